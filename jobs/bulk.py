"""Creating many jobs at once (a batch of webhook deliveries, API submits that arrived together): the
same rows, events and outbox rows as :func:`jobs.lifecycle.create_job`, in one statement for the batch.

Routing is decided in memory from one candidates query per (tenant, tool): each job goes to the
least loaded online agent that has the tool, counting the jobs routed earlier in the batch."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from hub.db.models import Job, JobEvent, OutboxMessage

from .inserts import Statement
from .lifecycle import CHAT_PLATFORMS, Effects, NewJob, new_job, route_to, run_message
from .routing import Candidate, candidates, pick


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
    effects.events = events
    if created:
        effects.outbox = await _insert(connection, created, events, messages)
    return created, effects


async def _insert(
    connection: BaseDBAsyncClient, jobs: list[Job], events: list[JobEvent], messages: list[OutboxMessage]
) -> list[OutboxMessage]:
    """The jobs, their events and their outbox rows in one statement; the outbox rows with their ids
    (the relay marks them sent by id). The events' own ids are not read back: nothing needs them."""
    statement = Statement()
    statement.insert_rows(jobs)
    statement.insert_rows(events)
    if not messages:
        await statement.rows(connection, "1")
        return []
    inserted = statement.insert_rows(messages, returning="id, dedupe_key")
    ids = {row["dedupe_key"]: row["id"] for row in await statement.rows(connection, f"id, dedupe_key FROM {inserted}")}
    for message in messages:
        message.id = ids[message.dedupe_key]
    return messages
