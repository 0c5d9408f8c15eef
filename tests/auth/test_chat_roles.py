"""Roles in chat: with SSO on, what a chat user may run or cancel follows the linked person's roles."""

from __future__ import annotations

from pathlib import Path

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from hub.db.auth_models import AuditEntry, RoleGrant
from hub.db.models import Job, JobStatus, Origin, User
from hub.security.roles import Grant, Permissions, Role
from hub.services import admin
from hub.services.commands import Requester, chat_permissions, handle_text
from hub.services.jobs import JobServices
from hub.settings import Settings
from hub.sso.people import issue_link_code, redeem_link_code
from jobs.effects import EffectApplier


def _requester(tenant_id: object, permissions: Permissions | None) -> Requester:
    return Requester(
        tenant_id=tenant_id, origin=Origin.SLACK, identity="slack:T1:U1",  # type: ignore[arg-type]
        thread_ref={"platform": "slack", "channel": "C1", "thread": None, "team": "T1"}, permissions=permissions,
    )  # fmt: skip


async def test_without_a_role_a_chat_user_may_not_run_a_tool(orm: None, redis_url: str) -> None:
    services = JobServices(EffectApplier(ArqRedis(connection_pool=ConnectionPool.from_url(redis_url))))
    tenant = await admin.ensure_tenant()
    refused = await handle_text(services, _requester(tenant.id, Permissions.of([])), "tool demo.echo text=x")
    assert not refused.ok and "may not run demo.echo" in refused.reply and "/swarm login" in refused.reply
    operator = Permissions.of([Grant(Role.OPERATOR, ("demo.*",))])
    allowed = await handle_text(services, _requester(tenant.id, operator), "tool demo.echo text=x")
    assert "may not run" not in allowed.reply  # it goes on to the catalog check (no agent here)
    other = await handle_text(services, _requester(tenant.id, operator), "tool git.git_commit message=x")
    assert "may not run git.git_commit" in other.reply
    unenforced = await handle_text(services, _requester(tenant.id, None), "tool demo.echo text=x")
    assert "may not run" not in unenforced.reply


async def test_chat_permissions_follow_the_linked_person_only_with_sso_on(orm: None, tmp_path: Path) -> None:
    off = Settings.from_env({"GARAGESWARM_DATA_DIR": str(tmp_path)})
    on = Settings.from_env({"GARAGESWARM_DATA_DIR": str(tmp_path), "OIDC_ISSUER": "https://idp.example.com",
                            "OIDC_CLIENT_ID": "hub", "OIDC_CLIENT_SECRET": "s"})  # fmt: skip
    assert await chat_permissions("slack:T1:U1", off) is None, "no SSO: chat is not restricted"
    assert await chat_permissions("slack:T1:U1", on) == Permissions.of([]), "unlinked: no roles"
    tenant = await admin.ensure_tenant()
    person = await User.create(tenant_id=tenant.id, display_name="Ada", email="ada@example.com")
    await RoleGrant.create(user_id=person.id, role="operator", tools=["demo.*"], granted_by="test")
    await redeem_link_code(await issue_link_code(tenant.id, "slack:T1:U1"), person)
    linked = await chat_permissions("slack:T1:U1", on)
    assert linked is not None and linked.may_run("demo.echo") and not linked.may_run("git.git_commit")


async def test_a_cancel_from_any_door_is_audited(orm: None, redis_url: str) -> None:
    services = JobServices(EffectApplier(ArqRedis(connection_pool=ConnectionPool.from_url(redis_url))))
    tenant = await admin.ensure_tenant()
    job = await Job.create(tenant_id=tenant.id, origin=Origin.SLACK, requester="slack:T1:U1", tool="demo.echo",
                           status=JobStatus.CREATED)  # fmt: skip
    await services.cancel(tenant.id, job.id, by="discord:G1:U9")
    entry = await AuditEntry.get(action="job_cancelled")
    assert (entry.actor, entry.source, entry.target) == ("discord:G1:U9", "discord", f"job:{job.id}")
