"""Creating many jobs at once (a batch of webhook deliveries): the same rows, events and outbox rows
as :func:`jobs.lifecycle.create_job`, in a handful of statements for the whole batch.

Routing is decided in memory from one candidates query per (tenant, tool): each job goes to the
least loaded online agent that has the tool, counting the jobs routed earlier in the batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from hub.db.models import EventKind, Job, JobEvent, JobStatus, OutboxMessage

from .lifecycle import (
    APPROVAL_TIMEOUT_TASK,
    CHAT_PLATFORMS,
    RUN_TOOL_TASK,
    Effects,
    NewJob,
    new_event,
    run_job_id,
    utcnow,
)
from .queue import HUB_QUEUE, agent_queue
from .routing import CANDIDATES_SQL, Route


@dataclass
class Candidate:
    route: Route
    load: int
    capacity: int

    @property
    def share(self) -> float:
        return self.load / max(1, self.capacity)


def pick(candidates: Sequence[Candidate]) -> Candidate | None:
    """The least loaded candidate (ties by id, like :func:`jobs.routing.pick_worker`); None when empty."""
    return min(candidates, key=lambda c: (c.share, str(c.route.worker_id)), default=None)


async def _candidates(connection: BaseDBAsyncClient, tenant_id: UUID, tool: str) -> list[Candidate]:
    rows = await connection.execute_query_dict(CANDIDATES_SQL, [str(tenant_id), json.dumps([{"name": tool}])])
    return [
        Candidate(Route(UUID(str(r["id"])), str(r["name"])), int(str(r["load"])), int(str(r["max_concurrency"])))
        for r in rows
    ]


_INSERT_OUTBOX_SQL = """
INSERT INTO outbox (task, payload, queue, dedupe_key, available_at, attempts, created_at)
SELECT task, payload::jsonb, queue, dedupe_key, available_at, 0, now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY
     AS t(task, payload, queue, dedupe_key, available_at, n)
ORDER BY n
RETURNING id, task, payload, queue, dedupe_key, available_at
"""


async def _insert_outbox(connection: BaseDBAsyncClient, messages: list[OutboxMessage]) -> list[OutboxMessage]:
    """Insert outbox rows in one statement and return them with their ids (the relay needs those)."""
    if not messages:
        return []
    columns = (
        [m.task for m in messages], [json.dumps(m.payload) for m in messages], [m.queue or "" for m in messages],
        [m.dedupe_key or "" for m in messages], [m.available_at for m in messages],
    )  # fmt: skip
    rows = await connection.execute_query_dict(_INSERT_OUTBOX_SQL, list(columns))
    return [_outbox_row(r) for r in rows]


def _outbox_row(r: dict[str, Any]) -> OutboxMessage:
    payload = json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"]
    return OutboxMessage(id=r["id"], task=r["task"], queue=r["queue"], dedupe_key=r["dedupe_key"],
                         available_at=r["available_at"], payload=payload)  # fmt: skip


def _build(new: NewJob, chosen: Candidate | None) -> tuple[Job, list[JobEvent], OutboxMessage | None]:
    """One job, its first events and its outbox row, as :func:`jobs.lifecycle.create_job` makes them."""
    now = utcnow()
    job = Job(
        tenant_id=new.tenant_id, origin=new.origin, tool=new.tool, arguments=new.arguments,
        requester=new.requester, thread_ref=new.thread_ref, idempotency_key=new.idempotency_key,
        max_retries=new.max_retries, status=JobStatus.CREATED, created_at=now,
    )  # fmt: skip
    events = [new_event(job, EventKind.CREATED, {"tool": new.tool, "origin": new.origin.value})]
    if new.approval_timeout_s is not None:
        job.status = JobStatus.AWAITING_APPROVAL
        request = {"tool": new.tool, "arguments": new.arguments, "requested_by": new.requester,
                   "timeout_s": new.approval_timeout_s}  # fmt: skip
        events.append(new_event(job, EventKind.APPROVAL_REQUESTED, request))
        timeout = OutboxMessage(
            task=APPROVAL_TIMEOUT_TASK, payload={"job_id": str(job.id)}, queue=HUB_QUEUE,
            dedupe_key=f"approval-timeout:{job.id}", available_at=now + timedelta(seconds=new.approval_timeout_s),
        )  # fmt: skip
        return job, events, timeout
    if chosen is None:
        return job, events, None
    route = chosen.route
    chosen.load += 1
    job.status, job.worker_id, job.queued_at = JobStatus.QUEUED, route.worker_id, now
    events.append(new_event(job, EventKind.QUEUED, {"worker": route.worker_name, "defer_s": 0.0}))
    run = OutboxMessage(
        task=RUN_TOOL_TASK, queue=agent_queue(str(route.worker_id)), dedupe_key=run_job_id(job.id, job.attempt),
        payload={"job_id": str(job.id), "attempt": job.attempt, "tool": job.tool, "arguments": job.arguments},
        available_at=now,
    )  # fmt: skip
    return job, events, run


async def create_jobs(connection: BaseDBAsyncClient, news: Sequence[NewJob]) -> tuple[list[Job], Effects]:
    """Create ``news`` (in the caller's transaction), each routed to an agent when one can take it."""
    effects = Effects()
    candidates: dict[tuple[UUID, str], list[Candidate]] = {}
    created: list[Job] = []
    events: list[JobEvent] = []
    messages: list[OutboxMessage] = []
    for new in news:
        key = (new.tenant_id, new.tool)
        if new.approval_timeout_s is None and key not in candidates:
            candidates[key] = await _candidates(connection, new.tenant_id, new.tool)
        job, job_events, message = _build(new, pick(candidates.get(key, [])))
        created.append(job)
        events += job_events
        if message is not None:
            messages.append(message)
        if job.thread_ref.get("platform") in CHAT_PLATFORMS:
            effects.threads.add(job.id)
    if created:
        await Job.bulk_create(created, using_db=connection)
        await JobEvent.bulk_create(events, using_db=connection)
    effects.events = events
    effects.outbox = await _insert_outbox(connection, messages)
    return created, effects
