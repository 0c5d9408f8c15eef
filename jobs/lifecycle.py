"""The job state machine, in Postgres: every transition and its event in one transaction.

created → queued → running → succeeded / failed / cancelled / timed_out, with retries back to
queued. Functions here run inside ``in_transaction()`` with the job row locked, and return
:class:`Effects` (events to publish, outbox rows to send, arq jobs to abort) that the caller
applies after commit with :func:`jobs.effects.apply`."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from hub.db.fresh import fresh
from hub.db.models import EventKind, Job, JobEvent, JobStatus, Origin, OutboxMessage

from .inserts import Statement, insert_together
from .queue import HUB_QUEUE, agent_queue
from .repeats import not_repeated_reason
from .routing import CANDIDATES_SQL, Route, pick_worker

RUN_TOOL_TASK = "run_tool"
APPROVAL_TIMEOUT_TASK = "approval_timeout"
RETRY_BASE_S = 1.0
RETRY_CAP_S = 60.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def run_job_id(job_id: UUID, attempt: int) -> str:
    """The arq job id of one attempt: deterministic, so a re-sent outbox row enqueues once."""
    return f"run:{job_id}:{attempt}"


@dataclass
class Effects:
    """What to do once the transaction has committed."""

    events: list[JobEvent] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    aborts: list[tuple[UUID, str]] = field(default_factory=list)  # (worker id, arq job id)
    threads: set[UUID] = field(default_factory=set)  # jobs whose chat thread must be brought up to date

    def extend(self, other: Effects) -> None:
        """Add another transaction's effects (applied together, in order)."""
        self.events.extend(other.events)
        self.outbox.extend(other.outbox)
        self.aborts.extend(other.aborts)
        self.threads |= other.threads


@dataclass(frozen=True)
class NewJob:
    tenant_id: UUID
    origin: Origin
    tool: str
    arguments: dict[str, Any]
    requester: str
    thread_ref: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    max_retries: int = 3
    approval_timeout_s: float | None = None  # set when the tool needs a human's approval first


def new_event(job: Job, kind: EventKind, data: dict[str, Any]) -> JobEvent:
    """The job's next event, not yet saved (the job row is locked, so ``next_seq`` is ours)."""
    event = fresh(JobEvent, job_id=job.id, seq=job.next_seq, kind=kind, attempt=job.attempt, data=data,
                  created_at=utcnow())  # fmt: skip
    job.next_seq += 1
    return event


CHAT_PLATFORMS = frozenset({"slack", "discord"})


def _track_thread(job: Job, effects: Effects) -> None:
    if job.thread_ref.get("platform") in CHAT_PLATFORMS:
        effects.threads.add(job.id)


async def save_events(connection: BaseDBAsyncClient, job: Job, events: list[JobEvent], effects: Effects) -> None:
    await JobEvent.bulk_create(events, using_db=connection)
    effects.events.extend(events)
    _track_thread(job, effects)


async def append_event(
    connection: BaseDBAsyncClient, job: Job, kind: EventKind, data: dict[str, Any], effects: Effects
) -> JobEvent:
    """Append to the job's log with the next per-job sequence number (the job row is locked)."""
    event = new_event(job, kind, data)
    await event.save(using_db=connection)
    effects.events.append(event)
    _track_thread(job, effects)
    return event


async def lock_job(connection: BaseDBAsyncClient, job_id: UUID) -> Job | None:
    return await Job.filter(id=job_id).select_for_update().using_db(connection).first()


def route_to(job: Job, route: Route, defer_s: float) -> JobEvent:
    """Queue the job on the route's agent (in memory); its queued event, not yet saved."""
    job.status, job.worker_id, job.queued_at = JobStatus.QUEUED, route.worker_id, utcnow()
    return new_event(job, EventKind.QUEUED, {"worker": route.worker_name, "defer_s": defer_s})


async def _enqueue_run(connection: BaseDBAsyncClient, job: Job, route: Route, defer_s: float) -> OutboxMessage:
    message = run_message(job, route, defer_s)
    await message.save(using_db=connection)
    return message


def run_message(job: Job, route: Route, defer_s: float) -> OutboxMessage:
    """The outbox row that enqueues the job's current attempt on the agent's queue (not yet saved)."""
    payload = {"job_id": str(job.id), "attempt": job.attempt, "tool": job.tool, "arguments": job.arguments}
    return fresh(
        OutboxMessage, task=RUN_TOOL_TASK, payload=payload, queue=agent_queue(str(route.worker_id)),
        dedupe_key=run_job_id(job.id, job.attempt), available_at=utcnow() + timedelta(seconds=defer_s),
    )  # fmt: skip


# The least loaded candidate, ranked as pick_worker ranks them (create_job has no agents to avoid), and
# the job's columns that depend on whether there is one. Names are our CTEs', values are parameters.
_BEST_SQL = (
    "SELECT id, name FROM ({candidates}) c ORDER BY c.load::float8 / GREATEST(1, c.max_concurrency), c.id::text LIMIT 1"
)
_ROUTED_COLUMNS = {
    "status": "CASE WHEN EXISTS (SELECT 1 FROM {route}) THEN 'queued' ELSE 'created' END",
    "worker_id": "(SELECT id FROM {route})",
    "queued_at": "CASE WHEN EXISTS (SELECT 1 FROM {route}) THEN {now}::timestamptz END",
    "next_seq": "CASE WHEN EXISTS (SELECT 1 FROM {route}) THEN 3 ELSE 2 END",
}
_QUEUED_SQL = """INSERT INTO job_events (job_id, seq, kind, attempt, data, created_at)
SELECT {job}::uuid, {seq}::int, 'queued', {attempt}::int, jsonb_build_object('worker', name, 'defer_s', 0.0),
       {now}::timestamptz FROM {route} RETURNING id"""
_RUN_SQL = """INSERT INTO outbox (task, payload, queue, dedupe_key, available_at, attempts, created_at)
SELECT {task}::text, {payload}::jsonb, {prefix}::text || id::text, {dedupe}::text, {now}::timestamptz, 0,
       {now}::timestamptz FROM {route} RETURNING id"""
_COLUMN_OF = "(SELECT {column} FROM {cte})"


async def _insert_routed(connection: BaseDBAsyncClient, job: Job, created: JobEvent, effects: Effects) -> None:
    """Route and insert a new job in one statement: the routing query, the job (queued on the chosen agent,
    or created when none can take it), its events and the outbox row of its run."""
    statement = Statement()
    statement.param(str(job.tenant_id))  # type: ignore[attr-defined]  # $1 and $2 of CANDIDATES_SQL
    statement.param(json.dumps([{"name": job.tool}]))
    route = statement.cte(_BEST_SQL.format(candidates=CANDIDATES_SQL))
    now = statement.param(job.created_at)
    statement.insert(job, {name: sql.format(route=route, now=now) for name, sql in _ROUTED_COLUMNS.items()})
    statement.insert(created)
    payload = {"job_id": str(job.id), "attempt": job.attempt, "tool": job.tool, "arguments": job.arguments}
    queued = statement.cte(_QUEUED_SQL.format(
        job=statement.param(str(job.id)), seq=statement.param(job.next_seq), attempt=statement.param(job.attempt),
        now=now, route=route,
    ))  # fmt: skip
    run = statement.cte(_RUN_SQL.format(
        task=statement.param(RUN_TOOL_TASK), payload=statement.param(json.dumps(payload)),
        prefix=statement.param(agent_queue("")), dedupe=statement.param(run_job_id(job.id, job.attempt)), now=now,
        route=route,
    ))  # fmt: skip
    keys = [statement.select(_COLUMN_OF.format(column=column, cte=cte))
            for column, cte in (("id", route), ("name", route), ("id", queued), ("id", run))]  # fmt: skip
    row = await statement.run(connection, [job])
    effects.events.append(created)
    if row[keys[0]] is not None:
        chosen = Route(worker_id=UUID(str(row[keys[0]])), worker_name=str(row[keys[1]]))
        queued_event, message = route_to(job, chosen, 0.0), run_message(job, chosen, 0.0)
        job.queued_at = queued_event.created_at = message.available_at = job.created_at  # the time written
        queued_event.id, message.id = row[keys[2]], row[keys[3]]
        queued_event._saved_in_db = message._saved_in_db = True
        effects.events.append(queued_event)
        effects.outbox.append(message)
    _track_thread(job, effects)


def new_job(new: NewJob) -> tuple[Job, list[JobEvent], OutboxMessage | None]:
    """A new job's row and its first events, not yet saved, not yet routed; a job that needs approval
    is awaiting it, with the outbox row of its approval timeout."""
    job = fresh(
        Job, tenant_id=new.tenant_id, origin=new.origin, tool=new.tool, arguments=new.arguments,
        requester=new.requester, thread_ref=new.thread_ref, idempotency_key=new.idempotency_key,
        max_retries=new.max_retries, status=JobStatus.CREATED, created_at=utcnow(),
    )  # fmt: skip
    created = new_event(job, EventKind.CREATED, {"tool": new.tool, "origin": new.origin.value})
    if new.approval_timeout_s is None:
        return job, [created], None
    requested, timeout = ask_approval(job, new.requester, new.approval_timeout_s)
    return job, [created, requested], timeout


def ask_approval(job: Job, requested_by: str, timeout_s: float) -> tuple[JobEvent, OutboxMessage]:
    """The job awaits a human's approval (in memory): its request event and the outbox row of its timeout,
    not yet saved."""
    job.status = JobStatus.AWAITING_APPROVAL
    request = {"tool": job.tool, "arguments": job.arguments, "requested_by": requested_by, "timeout_s": timeout_s}
    timeout = fresh(
        OutboxMessage, task=APPROVAL_TIMEOUT_TASK, payload={"job_id": str(job.id), "attempt": job.attempt},
        queue=HUB_QUEUE, dedupe_key=f"approval-timeout:{job.id}:{job.attempt}",
        available_at=utcnow() + timedelta(seconds=timeout_s),
    )  # fmt: skip
    return new_event(job, EventKind.APPROVAL_REQUESTED, request), timeout


async def create_job(connection: BaseDBAsyncClient, new: NewJob) -> tuple[Job, Effects]:
    """Create the job already routed to an agent when one can take it: one row, its events, an outbox row,
    written in one statement with the routing query (the hottest write of the hub, once per command)."""
    effects = Effects()
    job, events, message = new_job(new)
    if message is None:
        await _insert_routed(connection, job, events[0], effects)
        return job, effects
    await insert_together(connection, [job, *events, message])
    effects.events.extend(events)
    effects.outbox.append(message)
    _track_thread(job, effects)
    return job, effects


class Decision(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"


async def decide(
    connection: BaseDBAsyncClient, job: Job, decision: Decision, by: str, *, user_id: str | None = None
) -> tuple[bool, str, Effects]:
    """Record an approver's decision: approved → queued on an agent; denied → cancelled.
    Only a job still awaiting approval can be decided; (False, why) otherwise."""
    effects = Effects()
    if job.status is not JobStatus.AWAITING_APPROVAL:
        return False, _already(job), effects
    data = {"decision": decision.value, "by": by, "user_id": user_id}
    await append_event(connection, job, EventKind.APPROVAL_DECIDED, data, effects)
    if decision is Decision.APPROVED:
        await dispatch(connection, job, effects)
    else:
        await finish(connection, job, JobStatus.CANCELLED, {"error": f"denied by {by}", "by": by}, effects)
    await job.save(using_db=connection)
    return True, decision.value, effects


def _already(job: Job) -> str:
    return f"this job is {job.status.value.replace('_', ' ')}: it was already decided"


async def dispatch(
    connection: BaseDBAsyncClient, job: Job, effects: Effects, *, defer_s: float = 0.0, avoid: tuple[UUID, ...] = ()
) -> bool:
    """Route an existing job to an agent and record the run in the outbox; False when none can take it."""
    route = await pick_worker(connection, job.tenant_id, job.tool, avoid=avoid)  # type: ignore[attr-defined]
    if route is None:
        job.status, job.worker_id = JobStatus.CREATED, None
        return False
    await save_events(connection, job, [route_to(job, route, defer_s)], effects)
    effects.outbox.append(await _enqueue_run(connection, job, route, defer_s))
    return True


async def start(
    connection: BaseDBAsyncClient, job: Job, worker_id: UUID, worker_name: str, attempt: int
) -> tuple[bool, str, Effects]:
    """An agent is about to call the tool. Only the current attempt on its assigned agent runs."""
    effects = Effects()
    if job.status.finished:
        return False, f"job already {job.status.value}", effects
    if job.worker_id != worker_id:  # type: ignore[attr-defined]
        return False, "this run is assigned to another agent", effects
    if attempt != job.attempt:
        return False, "stale attempt: the job was re-queued", effects
    if job.status is JobStatus.RUNNING:
        return True, "already running", effects
    job.status, job.started_at = JobStatus.RUNNING, utcnow()
    await append_event(connection, job, EventKind.STARTED, {"worker": worker_name}, effects)
    await job.save(using_db=connection, update_fields=["status", "started_at", "next_seq"])
    return True, "started", effects


def backoff_s(attempt: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    ceiling = min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt)
    return (rng or random).uniform(ceiling / 2, ceiling)


async def finish(
    connection: BaseDBAsyncClient, job: Job, status: JobStatus, data: dict[str, Any], effects: Effects
) -> None:
    job.status, job.finished_at = status, utcnow()
    if status is not JobStatus.SUCCEEDED:
        job.error = str(data.get("error") or status.value)[:4000]
    await append_event(connection, job, EventKind(status.value), data, effects)


async def fail_or_retry(
    connection: BaseDBAsyncClient, job: Job, reason: str, *, timed_out: bool = False, lost_worker: UUID | None = None
) -> Effects:
    """A retryable failure: retry with backoff while attempts remain, else fail (or time out)."""
    effects = Effects()
    if job.attempt < job.max_retries:
        job.attempt += 1
        delay = backoff_s(job.attempt)
        await append_event(connection, job, EventKind.RETRIED, {"reason": reason, "delay_s": round(delay, 3)}, effects)
        avoid = (lost_worker,) if lost_worker else ()
        await dispatch(connection, job, effects, defer_s=delay, avoid=avoid)
    else:
        status = JobStatus.TIMED_OUT if timed_out else JobStatus.FAILED
        await finish(connection, job, status, {"error": reason, "attempts": job.attempt + 1}, effects)
    await job.save(using_db=connection)
    return effects


async def unknown_outcome(
    connection: BaseDBAsyncClient,
    job: Job,
    what: str,
    *,
    repeatable: bool,
    timed_out: bool = False,
    lost_worker: UUID | None = None,
) -> Effects:
    """The run's call may or may not have had its effect (its agent or server was lost mid-call, or it timed
    out): retry it when the tool is safe to repeat (:mod:`jobs.repeats`), else end the job saying why, for a
    person to retry by hand."""
    if repeatable:
        return await fail_or_retry(connection, job, what, timed_out=timed_out, lost_worker=lost_worker)
    effects = Effects()
    status = JobStatus.TIMED_OUT if timed_out else JobStatus.FAILED
    data = {"error": not_repeated_reason(what, str(job.id)), "attempts": job.attempt + 1, "retry_by_hand": True}
    await finish(connection, job, status, data, effects)
    await job.save(using_db=connection)
    return effects


async def retry_by_hand(
    connection: BaseDBAsyncClient, job: Job, by: str, *, approval_timeout_s: float | None
) -> tuple[bool, str, Effects]:
    """A person retries a job that ended without success: one more attempt, routed as a new job is (asking
    for approval again first when its tool needs it: an earlier approval covered the earlier attempt, and a
    denial stays a denial). (False, why not) for a job that has not ended or succeeded."""
    effects = Effects()
    if not job.status.finished or job.status is JobStatus.SUCCEEDED:
        what = job.status.value.replace("_", " ")
        return False, f"this job is {what}: only a job that failed, timed out or was cancelled can be retried", effects
    job.attempt += 1
    job.max_retries = max(job.max_retries, job.attempt)  # the retry is one more attempt, not a new budget
    job.result = job.started_at = job.finished_at = None
    job.error = None  # type: ignore[assignment]  # a nullable column
    await append_event(connection, job, EventKind.RETRIED, {"reason": f"retried by {by}", "by": by, "delay_s": 0.0},
                       effects)  # fmt: skip
    if approval_timeout_s is not None:
        requested, timeout = ask_approval(job, by, approval_timeout_s)
        await save_events(connection, job, [requested], effects)
        await timeout.save(using_db=connection)
        effects.outbox.append(timeout)
    else:
        await dispatch(connection, job, effects)
    await job.save(using_db=connection)
    return True, "retried", effects


async def cancel(connection: BaseDBAsyncClient, job: Job, by: str) -> Effects:
    """Cancel: at once when not running; a running job is asked to stop on its agent."""
    effects = Effects()
    if job.status.finished:
        return effects
    if job.status is JobStatus.RUNNING and job.worker_id is not None:  # type: ignore[attr-defined]
        await append_event(connection, job, EventKind.CANCEL_REQUESTED, {"by": by}, effects)
        effects.aborts.append((job.worker_id, run_job_id(job.id, job.attempt)))  # type: ignore[attr-defined]
    else:
        if job.worker_id is not None:  # type: ignore[attr-defined]
            effects.aborts.append((job.worker_id, run_job_id(job.id, job.attempt)))  # type: ignore[attr-defined]
        await finish(connection, job, JobStatus.CANCELLED, {"by": by, "error": f"cancelled by {by}"}, effects)
    await job.save(using_db=connection)
    return effects
