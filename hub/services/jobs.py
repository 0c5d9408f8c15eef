"""Job use-cases shared by every door (REST API, console, Slack, Discord, webhooks)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.transactions import in_transaction

from bot.commands import CommandError, RunTool, ToolInfo, validate_tool_call
from hub.db.group_commit import GroupCommit
from hub.db.models import Artifact, Job, JobEvent, Worker, WorkerStatus
from hub.errors import NotFound
from hub.settings import Settings
from hub.sso import audit
from jobs import bulk, lifecycle
from jobs.approvals import ApprovalPolicy
from jobs.effects import EffectApplier
from jobs.lifecycle import Decision, NewJob

CATALOG_TTL_S = 2.0
WORKER_NAMES_MAX = 10_000
CREATE_BATCH_MAX = 64


async def load_tool_catalog(tenant_id: UUID) -> dict[str, ToolInfo]:
    """Every tool an agent of the tenant reported (online agents win on a name clash)."""
    catalog: dict[str, ToolInfo] = {}
    workers = await Worker.filter(tenant_id=tenant_id).only("id", "status", "tools")
    for worker in sorted(workers, key=lambda w: w.status is WorkerStatus.ONLINE):
        for tool in worker.tools:
            server, _, name = str(tool.get("name", "")).partition(".")
            if server and name:
                catalog[f"{server}.{name}"] = ToolInfo(
                    server=server, name=name, description=str(tool.get("description") or ""),
                    input_schema=tool.get("input_schema") or {},
                )  # fmt: skip
    return catalog


def approval_policy(settings: Settings) -> ApprovalPolicy:
    return ApprovalPolicy(patterns=settings.approval_tools, timeout_s=settings.approval_timeout_s)


class JobServices:
    """What the doors need to create and manage jobs; one per hub application."""

    def __init__(
        self, effects: EffectApplier, policy: ApprovalPolicy | None = None, *, catalog_ttl_s: float = CATALOG_TTL_S
    ) -> None:
        self.effects = effects
        self.policy = policy or ApprovalPolicy()
        self.catalog_ttl_s = catalog_ttl_s
        self._catalogs: dict[UUID, tuple[float, dict[str, ToolInfo]]] = {}
        self._worker_names: dict[UUID, str] = {}
        self._creator: GroupCommit[NewJob, Job] = GroupCommit(self._create_many, max_batch=CREATE_BATCH_MAX)

    async def tool_catalog(self, tenant_id: UUID) -> dict[str, ToolInfo]:
        """The tenant's tools, cached briefly (agents re-register when their tools change)."""
        cached = self._catalogs.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < self.catalog_ttl_s:
            return cached[1]
        catalog = await load_tool_catalog(tenant_id)
        self._catalogs[tenant_id] = (time.monotonic(), catalog)
        return catalog

    async def worker_name(self, job: Job) -> str | None:
        """The name of the agent a job is routed to, read once per agent (agents are never renamed)."""
        worker_id: UUID | None = job.worker_id  # type: ignore[attr-defined]
        if worker_id is None:
            return None
        if (name := self._worker_names.get(worker_id)) is not None:
            return name
        worker = await Worker.get_or_none(id=worker_id).only("id", "name")
        if worker is None:
            return None
        if len(self._worker_names) >= WORKER_NAMES_MAX:
            self._worker_names.clear()
        self._worker_names[worker_id] = worker.name
        return worker.name

    def forget_catalog(self, tenant_id: UUID) -> None:
        self._catalogs.pop(tenant_id, None)

    async def validate(self, tenant_id: UUID, tool: str, arguments: dict[str, Any]) -> None:
        """Raise :class:`CommandError` (unknown tool with the closest names, or bad arguments)."""
        server, _, name = tool.partition(".")
        catalog = await self.tool_catalog(tenant_id)
        if tool not in catalog:  # maybe an agent just reported it
            self.forget_catalog(tenant_id)
            catalog = await self.tool_catalog(tenant_id)
        validate_tool_call(RunTool(server=server, tool=name, arguments=arguments), catalog)

    async def checked(self, new: NewJob) -> NewJob:
        """``new`` validated against the tenant's tools (:class:`CommandError` otherwise), with the
        approval policy applied."""
        await self.validate(new.tenant_id, new.tool, new.arguments)
        if self.policy.requires_approval(new.tool):
            return replace(new, approval_timeout_s=self.policy.timeout_s)
        return new

    async def submit(self, new: NewJob) -> tuple[Job, bool]:
        """Validate, create and queue a job; (job, created) — False for a repeated idempotency key.

        Jobs submitted at the same moment are written together (group commit); each answer still waits
        for the commit that holds its job. The answer does not wait for Redis: the enqueue runs after
        commit in the background, and the outbox relay enqueues whatever that misses."""
        new = await self.checked(new)
        if new.idempotency_key is not None:
            existing = await Job.get_or_none(tenant_id=new.tenant_id, idempotency_key=new.idempotency_key)
            if existing is not None:
                return existing, False
            # Written alone: a racing repeat of the key must fail by itself, not the batch it shares.
            return await self._create_one(new), True
        return await self._creator.submit(new), True

    async def _create_one(self, new: NewJob) -> Job:
        """One job in one statement, routing included, with no transaction around it."""
        job, effects = await lifecycle.create_job(connections.get("default"), new)
        self.effects.apply_later(new.tenant_id, effects)
        return job

    async def _create_many(self, news: list[NewJob]) -> list[Job]:
        """Create the jobs submitted together (group commit): one alone as :meth:`_create_one`; several in
        one transaction, per tenant one routing query per tool and one statement for the rows
        (:func:`jobs.bulk.create_jobs`), which costs Postgres a third of the CPU per job."""
        if len(news) == 1:
            return [await self._create_one(news[0])]
        tenants = list(dict.fromkeys(new.tenant_id for new in news))
        created: dict[int, Job] = {}
        applied: list[tuple[UUID, lifecycle.Effects]] = []
        async with in_transaction() as connection:
            for tenant_id in tenants:
                indexes = [i for i, new in enumerate(news) if new.tenant_id == tenant_id]
                jobs, effects = await bulk.create_jobs(connection, [news[i] for i in indexes])
                created.update(zip(indexes, jobs, strict=True))
                applied.append((tenant_id, effects))
        for tenant_id, effects in applied:
            self.effects.apply_later(tenant_id, effects)
        return [created[i] for i in range(len(news))]

    async def close(self) -> None:
        """Finish the creations under way, then the effects waiting to be applied (at shutdown)."""
        await self._creator.close()
        await self.effects.drain()

    async def cancel(self, tenant_id: UUID, job_id: UUID, by: str, *, actor: str | None = None) -> Job:
        """Cancel from any door; ``by`` names the door and person (``slack:T:U``), recorded in the audit log."""
        async with in_transaction() as connection:
            job = await lifecycle.lock_job(connection, job_id)
            if job is None or job.tenant_id != tenant_id:  # type: ignore[attr-defined]
                raise NotFound(f"job {job_id} not found")
            effects = await lifecycle.cancel(connection, job, by)
        await self.effects.apply(tenant_id, effects)
        if effects.events:
            await audit.record(
                audit.Action.JOB_CANCELLED, actor=actor or by, source=by.split(":", 1)[0], target=f"job:{job.id}",
                tenant_id=tenant_id, data={"tool": job.tool, "status": job.status.value},
            )  # fmt: skip
        return job

    async def retry(self, tenant_id: UUID, job_id: UUID, by: str, *, actor: str | None = None) -> tuple[Job, bool, str]:
        """Retry by hand a job that failed, timed out or was cancelled, from any door: (job, retried, why not).
        A tool that needs approval asks for it again. Recorded in the audit log."""
        timeout_s = self.policy.timeout_s
        async with in_transaction() as connection:
            job = await lifecycle.lock_job(connection, job_id)
            if job is None or job.tenant_id != tenant_id:  # type: ignore[attr-defined]
                raise NotFound(f"job {job_id} not found")
            approval = timeout_s if self.policy.requires_approval(job.tool) else None
            retried, reason, effects = await lifecycle.retry_by_hand(connection, job, by, approval_timeout_s=approval)
        await self.effects.apply(tenant_id, effects)
        if retried:
            await audit.record(
                audit.Action.JOB_RETRIED, actor=actor or by, source=by.split(":", 1)[0], target=f"job:{job.id}",
                tenant_id=tenant_id, data={"tool": job.tool, "attempt": job.attempt},
            )  # fmt: skip
        return job, retried, reason

    async def decide(
        self,
        tenant_id: UUID,
        job_id: UUID,
        decision: Decision,
        by: str,
        *,
        user_id: str | None = None,
        actor: str | None = None,
    ) -> tuple[Job, bool, str]:
        """Approve or deny a job awaiting approval: (job, decided now, why not / the decision). Every
        decision, from any door or the timeout, is recorded in the audit log."""
        async with in_transaction() as connection:
            job = await lifecycle.lock_job(connection, job_id)
            if job is None or job.tenant_id != tenant_id:  # type: ignore[attr-defined]
                raise NotFound(f"job {job_id} not found")
            decided, reason, effects = await lifecycle.decide(connection, job, decision, by, user_id=user_id)
        await self.effects.apply(tenant_id, effects)
        if decided:
            await audit.record(
                audit.Action.APPROVAL_DECIDED, actor=actor or by, source=by.split(":", 1)[0],
                target=f"job:{job.id}", tenant_id=tenant_id, data={"decision": decision.value, "tool": job.tool},
            )  # fmt: skip
        return job, decided, reason


async def find_job(tenant_id: UUID, ref: str) -> Job:
    """A job by id or by an unambiguous id prefix of at least 6 characters (as typed in chat)."""
    ref = ref.strip().lower()
    try:
        job = await Job.get_or_none(id=UUID(ref), tenant_id=tenant_id)
    except ValueError:
        job = await _by_prefix(tenant_id, ref)
    if job is None:
        raise NotFound(f"job {ref} not found")
    return job


async def _by_prefix(tenant_id: UUID, prefix: str) -> Job | None:
    if len(prefix) < 6 or any(c not in "0123456789abcdef-" for c in prefix):
        return None
    rows = await connections.get("default").execute_query_dict(
        "SELECT id FROM jobs WHERE tenant_id = $1 AND id::text LIKE $2 LIMIT 2", [str(tenant_id), prefix + "%"]
    )
    if len(rows) > 1:
        raise CommandError(f"job {prefix} is ambiguous: give more of its id", "status JOB")
    return await Job.get(id=rows[0]["id"]) if rows else None


async def job_details(job: Job) -> tuple[list[JobEvent], list[Artifact]]:
    events = await JobEvent.filter(job_id=job.id).order_by("seq")
    artifacts = await Artifact.filter(job_id=job.id).order_by("created_at")
    return events, artifacts
