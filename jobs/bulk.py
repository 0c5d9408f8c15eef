"""Creating many jobs at once (a batch of webhook deliveries): the same rows, events and outbox rows
as :func:`jobs.lifecycle.create_job`, in a handful of statements for the whole batch.

Routing is decided in memory from one candidates query per (tenant, tool): each job goes to the
least loaded online agent that has the tool, counting the jobs routed earlier in the batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from hub.db.models import Job, JobEvent, OutboxMessage

from . import outbox
from .lifecycle import CHAT_PLATFORMS, Effects, NewJob, new_job, route_to, run_message
from .routing import Candidate, candidates, pick

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
    return [outbox.message_of(row) for row in rows]


def _build(new: NewJob, chosen: Candidate | None) -> tuple[Job, list[JobEvent], OutboxMessage | None]:
    """One job as :func:`jobs.lifecycle.create_job` makes it: queued on ``chosen`` when it may run now."""
    job, events, message = new_job(new)
    if message is not None or chosen is None:  # awaiting approval (its timeout's row), or no agent yet
        return job, events, message
    chosen.load += 1
    events.append(route_to(job, chosen.route, 0.0))
    return job, events, run_message(job, chosen.route, 0.0)


async def create_jobs(connection: BaseDBAsyncClient, news: Sequence[NewJob]) -> tuple[list[Job], Effects]:
    """Create ``news`` (in the caller's transaction), each routed to an agent when one can take it."""
    effects = Effects()
    agents: dict[tuple[UUID, str], list[Candidate]] = {}
    created: list[Job] = []
    events: list[JobEvent] = []
    messages: list[OutboxMessage] = []
    for new in news:
        key = (new.tenant_id, new.tool)
        if new.approval_timeout_s is None and key not in agents:
            agents[key] = await candidates(connection, new.tenant_id, new.tool)
        job, job_events, message = _build(new, pick(agents.get(key, [])))
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
