"""Approval buttons in chat: a person with the approver role who linked their Slack account may decide, and
so may whoever a chat grant names (configured ones follow the settings)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from hub.db.auth_models import AuditEntry, RoleGrant
from hub.db.models import ChatIdentity, Job, JobStatus, Origin, User, Worker
from hub.security.roles import ChatGrantRule, Role, SubjectKind
from hub.services import admin
from hub.services.jobs import JobServices, approval_policy
from hub.services.slack_installs import SlackWorkspaces
from hub.settings import Settings
from hub.sso import chat_grants
from hub.storage import LocalStorage
from jobs.context import WorkerContext
from jobs.effects import EffectApplier
from jobs.lifecycle import NewJob
from jobs.tasks.approvals import _decide_click

TEAM, LINKED, STRANGER = "T0GARAGE01", "U0LINKED01", "U0STRANGE1"


@pytest.fixture
async def context(tmp_path: Path, database_url: str, redis_url: str, orm: None) -> AsyncIterator[WorkerContext]:
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path), "GARAGESWARM_APPROVAL_TOOLS": "git.*"}
    settings = Settings.from_env(env).with_stores(database_url, redis_url)
    redis = ArqRedis(connection_pool=ConnectionPool.from_url(redis_url))
    services = JobServices(EffectApplier(redis), approval_policy(settings))
    yield WorkerContext(settings=settings, redis=redis, services=services, storage=LocalStorage(tmp_path / "a"),
                        workspaces=SlackWorkspaces(settings))  # fmt: skip
    await services.effects.drain()
    await redis.aclose()


async def _awaiting(context: WorkerContext) -> Job:
    tenant = await admin.ensure_tenant()
    await admin.add_worker("garage-1", {})
    await Worker.filter(name="garage-1").update(tools=[{"name": "git.git_commit", "input_schema": {}}])
    job, _ = await context.services.submit(NewJob(tenant.id, Origin.SLACK, "git.git_commit", {}, "slack:T:U"))
    assert job.status is JobStatus.AWAITING_APPROVAL
    return job


async def _person(role: str | None) -> User:
    tenant = await admin.ensure_tenant()
    user = await User.create(tenant_id=tenant.id, display_name="Ada")
    await ChatIdentity.create(user=user, platform="slack", team_id=TEAM, platform_user_id=LINKED)
    if role:
        await RoleGrant.create(user=user, role=role, granted_by="tests")
    return user


def _click(job: Job, action: str = "approve") -> dict[str, Any]:
    return {"team_id": TEAM, "job_id": str(job.id), "action": action}


async def test_a_linked_approver_decides_and_it_is_audited(context: WorkerContext) -> None:
    job = await _awaiting(context)
    await _person("approver")
    assert await _decide_click(context, None, _click(job), LINKED) == "You approved the job."  # type: ignore[arg-type]
    assert (await Job.get(id=job.id)).status in (JobStatus.CREATED, JobStatus.QUEUED)  # on its way to an agent
    entry = await AuditEntry.get(action="approval_decided")
    assert (entry.actor, entry.source) == (f"slack:{TEAM}:{LINKED}", "slack")
    assert entry.data == {"decision": "approved", "tool": job.tool}


async def test_a_linked_viewer_and_a_stranger_cannot_decide(context: WorkerContext) -> None:
    job = await _awaiting(context)
    await _person("viewer")
    for user in (LINKED, STRANGER):
        answer = await _decide_click(context, None, _click(job, "deny"), user)  # type: ignore[arg-type]
        assert answer.startswith("Only approvers")
    assert (await Job.get(id=job.id)).status is JobStatus.AWAITING_APPROVAL
    assert not await AuditEntry.filter(action="approval_decided").exists()


async def test_a_chat_grant_decides_and_an_approver_no_longer_configured_does_not(
    context: WorkerContext, tmp_path: Path
) -> None:
    job = await _awaiting(context)
    await chat_grants.sync_config_grants(Settings.from_env({"GARAGESWARM_DATA_DIR": str(tmp_path),
                                                            "SLACK_APPROVERS": STRANGER}))  # fmt: skip
    await chat_grants.sync_config_grants(context.settings)  # the hub started again without SLACK_APPROVERS
    refused = await _decide_click(context, None, _click(job), STRANGER)  # type: ignore[arg-type]
    assert refused.startswith("Only approvers")
    tenant = await admin.ensure_tenant()
    rule = ChatGrantRule("slack", TEAM, SubjectKind.USER, STRANGER, Role.APPROVER)
    await chat_grants.add_grant(rule, actor="user:admin", tenant_id=tenant.id)
    assert await _decide_click(context, None, _click(job), STRANGER) == "You approved the job."  # type: ignore[arg-type]
