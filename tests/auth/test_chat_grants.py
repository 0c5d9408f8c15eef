"""Chat grants: the configured approver lists become grants (synced, removed entries disappear), and one
answer to "may this chat member approve?" covers chat grants and the linked person's roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.db.auth_models import AuditEntry, ChatGrant, OidcAccount, RoleGrant
from hub.db.models import ChatIdentity, User
from hub.security.roles import (
    ChatGrantRule,
    ChatMember,
    Role,
    SubjectKind,
    chat_grant_permissions,
    chat_subject_problem,
    configured_rules,
    groups_to_ask,
    rule_matches,
)
from hub.services import admin
from hub.settings import Settings
from hub.sso import chat_grants
from tests.auth.helpers import ROLE_MAP

SLACK_USER, SLACK_GROUP, DISCORD_ID, GUILD = "U0APPROVE1", "S0APPROVE1", "1700000000000000001", "1100000000000000001"
APPROVER = Role.APPROVER


def _rule(platform: str, kind: SubjectKind, subject: str, team: str = "") -> ChatGrantRule:
    return ChatGrantRule(platform, team, kind, subject, APPROVER)


def test_a_rule_names_a_user_a_group_or_a_role_in_its_team_or_in_any() -> None:
    ada = ChatMember("discord", GUILD, "42", frozenset({"7"}))
    assert rule_matches(_rule("discord", SubjectKind.USER, "42"), ada)
    assert rule_matches(_rule("discord", SubjectKind.ROLE, "7", GUILD), ada)
    assert rule_matches(_rule("discord", SubjectKind.USER_OR_ROLE, "42"), ada)
    assert rule_matches(_rule("discord", SubjectKind.USER_OR_ROLE, "7"), ada)
    assert not rule_matches(_rule("discord", SubjectKind.USER, "7"), ada), "a role id is not the user"
    assert not rule_matches(_rule("discord", SubjectKind.ROLE, "42"), ada), "the user id is not a role"
    assert not rule_matches(_rule("discord", SubjectKind.USER, "42", "another-guild"), ada)
    assert not rule_matches(_rule("slack", SubjectKind.USER, "42"), ada)
    assert not rule_matches(_rule("discord", SubjectKind.USER, ""), ChatMember("discord", GUILD, ""))


def test_chat_grant_permissions_are_the_union_of_the_matching_rules() -> None:
    member = ChatMember("slack", "T1", SLACK_USER)
    rules = [
        _rule("slack", SubjectKind.USER, SLACK_USER),
        ChatGrantRule("slack", "", SubjectKind.USER, "U9", Role.ADMIN),
    ]
    assert chat_grant_permissions(rules, member).roles == frozenset({Role.APPROVER})
    assert not chat_grant_permissions(rules[1:], member).may_approve


def test_only_approving_slack_groups_of_the_member_s_team_are_asked_about() -> None:
    member = ChatMember("slack", "T1", SLACK_USER)
    rules = [
        _rule("slack", SubjectKind.GROUP, "S1"), _rule("slack", SubjectKind.GROUP, "S2", "T1"),
        _rule("slack", SubjectKind.GROUP, "S3", "T2"), _rule("slack", SubjectKind.USER, "U7"),
        ChatGrantRule("slack", "", SubjectKind.GROUP, "S4", Role.VIEWER), _rule("slack", SubjectKind.GROUP, "S1", "T1"),
    ]  # fmt: skip
    assert groups_to_ask(rules, member) == ["S1", "S2"]


def test_the_configured_lists_stand_for_approver_grants_in_every_team() -> None:
    assert configured_rules((SLACK_USER, "W0ENTERPRS", SLACK_GROUP), (DISCORD_ID,)) == {
        _rule("slack", SubjectKind.USER, SLACK_USER), _rule("slack", SubjectKind.USER, "W0ENTERPRS"),
        _rule("slack", SubjectKind.GROUP, SLACK_GROUP), _rule("discord", SubjectKind.USER_OR_ROLE, DISCORD_ID),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("platform", "team", "kind", "subject", "problem"),
    [("slack", "", "user", SLACK_USER, None), ("slack", "T1", "group", SLACK_GROUP, None),
     ("discord", GUILD, "role", DISCORD_ID, None), ("slack", "", "group", SLACK_USER, "not a slack group id"),
     ("slack", "", "role", SLACK_USER, "subject kind is one of"), ("discord", "", "user", "ada", "not a discord"),
     ("discord", "guild one", "user", DISCORD_ID, "team_id"), ("teams", "", "user", "x", "platform must be")],
)  # fmt: skip
def test_a_chat_grant_subject_must_fit_its_platform_and_kind(
    platform: str, team: str, kind: str, subject: str, problem: str | None
) -> None:
    found = chat_subject_problem(platform, team, kind, subject)
    assert found is None if problem is None else problem in (found or "")


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"GARAGESWARM_DATA_DIR": str(tmp_path), "OIDC_ROLE_MAP": ROLE_MAP, **env})


async def _rows() -> set[tuple[str, str, str, str, str]]:
    return set(await ChatGrant.all().values_list("platform", "subject_kind", "subject_id", "role", "source"))


async def test_the_configured_lists_are_synced_idempotently_and_removed_entries_disappear(
    tmp_path: Path, orm: None
) -> None:
    before = _settings(tmp_path, SLACK_APPROVERS=f"{SLACK_USER},{SLACK_GROUP}", DISCORD_APPROVERS=DISCORD_ID)
    assert await chat_grants.sync_config_grants(before) == (3, 0)
    assert await chat_grants.sync_config_grants(before) == (0, 0), "a second start changes nothing"
    tenant = await admin.ensure_tenant()
    kept = await chat_grants.add_grant(
        _rule("slack", SubjectKind.USER, SLACK_USER), actor="user:x", tenant_id=tenant.id
    )
    after = _settings(tmp_path, SLACK_APPROVERS=SLACK_GROUP)
    assert await chat_grants.sync_config_grants(after) == (0, 2)
    assert await _rows() == {
        ("slack", "group", SLACK_GROUP, "approver", "config"), ("slack", "user", SLACK_USER, "approver", "api"),
    }, "an admin's grant does not follow the settings"  # fmt: skip
    assert kept[1]
    audit = [(e.action, e.actor, e.target) for e in await AuditEntry.filter(source="config").order_by("id")]
    assert audit == [
        ("role_granted", "config", f"discord:*:user_or_role:{DISCORD_ID}"),
        ("role_granted", "config", f"slack:*:group:{SLACK_GROUP}"),
        ("role_granted", "config", f"slack:*:user:{SLACK_USER}"),
        ("role_revoked", "config", f"discord:*:user_or_role:{DISCORD_ID}"),
        ("role_revoked", "config", f"slack:*:user:{SLACK_USER}"),
    ]


async def _linked(platform: str, team: str, user_id: str, *, role: str | None = None, groups: list[str] | None = None
                  ) -> User:  # fmt: skip
    tenant = await admin.ensure_tenant()
    person = await User.create(tenant_id=tenant.id, display_name="Ada")
    await ChatIdentity.create(user=person, platform=platform, team_id=team, platform_user_id=user_id)
    if role:
        await RoleGrant.create(user=person, role=role, granted_by="tests")
    if groups is not None:
        await OidcAccount.create(user=person, issuer="https://idp.example", subject=f"s-{user_id}", groups=groups)
    return person


async def test_a_discord_member_approves_through_a_grant_or_a_linked_approver(tmp_path: Path, orm: None) -> None:
    settings = _settings(tmp_path, DISCORD_APPROVERS=DISCORD_ID)
    await chat_grants.sync_config_grants(settings)
    assert await chat_grants.may_approve(ChatMember("discord", GUILD, "5", frozenset({DISCORD_ID})), settings)
    assert await chat_grants.may_approve(ChatMember("discord", "dm", DISCORD_ID), settings)
    await _linked("discord", GUILD, "6", role="approver")
    await _linked("discord", GUILD, "7", groups=["swarm-approvers"])  # approver through OIDC_ROLE_MAP
    await _linked("discord", GUILD, "8", role="viewer", groups=["swarm-ops"])
    verdicts = {u: await chat_grants.may_approve(ChatMember("discord", GUILD, u), settings) for u in "6789"}
    assert verdicts == {"6": True, "7": True, "8": False, "9": False}
    assert not await chat_grants.may_approve(ChatMember("discord", "another-guild", "6"), settings), (
        "a link holds in the guild it was made in"
    )


async def test_slack_groups_are_asked_about_only_when_nothing_else_allows(tmp_path: Path, orm: None) -> None:
    settings = _settings(tmp_path, SLACK_APPROVERS=f"{SLACK_USER},{SLACK_GROUP}")
    await chat_grants.sync_config_grants(settings)
    asked: list[str] = []

    async def in_group(group: str) -> bool:
        asked.append(group)
        return group == SLACK_GROUP

    assert await chat_grants.may_approve(ChatMember("slack", "T1", SLACK_USER), settings, in_group)
    assert asked == [], "a user grant needs no lookup"
    await _linked("slack", "T1", "U0LINKED01", role="approver")
    assert await chat_grants.may_approve(ChatMember("slack", "T1", "U0LINKED01"), settings, in_group)
    assert asked == [], "a linked approver needs no lookup"
    assert await chat_grants.may_approve(ChatMember("slack", "T1", "U0MEMBER01"), settings, in_group)
    assert asked == [SLACK_GROUP]
    assert not await chat_grants.may_approve(ChatMember("slack", "T1", "U0MEMBER01"), settings), "not without asking"
