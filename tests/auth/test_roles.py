"""What each role allows (pure), and how token scopes narrow a person's roles."""

from __future__ import annotations

import pytest

from hub.security.roles import AUTOMATION, Grant, Permissions, Role, group_grants
from hub.settings import Settings, SettingsError

ROLE_MAP = (("ops", "operator", ("git.*", "demo.echo")), ("leads", "approver", ()), ("root", "admin", ()))


def test_an_operator_runs_only_the_tools_its_patterns_match() -> None:
    operator = Permissions.of([Grant(Role.OPERATOR, ("git.*", "demo.echo"))])
    assert operator.may_run("git.git_commit") and operator.may_run("demo.echo")
    assert not operator.may_run("demo.image") and not operator.may_run("gitx.status")
    assert not operator.may_approve and not operator.is_admin


def test_a_viewer_reads_but_neither_runs_nor_approves() -> None:
    viewer = Permissions.of([Grant(Role.VIEWER)])
    assert viewer.may_read and not viewer.may_run("demo.echo") and not viewer.may_approve


def test_nobody_without_a_role_may_read() -> None:
    assert not Permissions.of([]).may_read


def test_an_admin_may_do_everything() -> None:
    admin = Permissions.of([Grant(Role.ADMIN)])
    assert admin.may_run("anything.at_all") and admin.may_approve and admin.may_read


def test_groups_earn_the_mapped_roles() -> None:
    grants = group_grants(["ops", "leads", "unrelated"], ROLE_MAP)
    assert grants == [Grant(Role.OPERATOR, ("git.*", "demo.echo")), Grant(Role.APPROVER)]


def test_a_token_scope_narrows_but_never_widens() -> None:
    operator = Permissions.of([Grant(Role.OPERATOR, ("demo.*",)), Grant(Role.APPROVER)])
    read_only = operator.narrowed_to(["read"])
    assert not read_only.may_run("demo.echo") and not read_only.may_approve and not read_only.may_read
    run_only = operator.narrowed_to(["run"])
    assert run_only.may_run("demo.echo") and not run_only.may_approve
    assert not operator.narrowed_to(["admin"]).is_admin
    admin = Permissions.of([Grant(Role.ADMIN)])
    assert admin.narrowed_to(["admin"]).is_admin
    assert admin.narrowed_to(["approve"]).may_approve and not admin.narrowed_to(["approve"]).may_run("demo.echo")


def test_a_token_without_a_person_is_an_automation_admin() -> None:
    assert AUTOMATION.is_admin and AUTOMATION.may_run("x.y")


def test_the_role_map_setting_is_parsed_and_checked(tmp_path: object) -> None:
    env = {"OIDC_ROLE_MAP": "ops=operator:git.*|demo.echo, leads=approver", "GARAGESWARM_DATA_DIR": "/tmp/x"}
    assert Settings.from_env(env).oidc_role_map == (("ops", "operator", ("git.*", "demo.echo")),
                                                    ("leads", "approver", ()))  # fmt: skip
    for bad in ("ops=superuser", "=admin", "ops", "ops=operator:rm -rf"):
        with pytest.raises(SettingsError, match="OIDC_ROLE_MAP"):
            Settings.from_env({"OIDC_ROLE_MAP": bad})
    with pytest.raises(SettingsError, match="OIDC_CLIENT_ID"):
        Settings.from_env({"OIDC_ISSUER": "https://idp.example"})
