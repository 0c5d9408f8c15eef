"""The two hottest transitions as single SQL statements: agents starting runs, and runs succeeding.

Each is one atomic ``UPDATE … RETURNING`` feeding the ``INSERT`` of its events, for any number of runs
at once (an agent sends the reports that are ready together in one request), so a batch costs one round
trip instead of BEGIN / SELECT … FOR UPDATE / INSERT / UPDATE / COMMIT per run. The ``WHERE`` clause
holds the same conditions as :mod:`jobs.lifecycle` (which it re-checks after any concurrent transition,
as Postgres re-evaluates an UPDATE's condition on a row another transaction changed). A run it does not
move goes to the general path, which explains why (stale attempt, finished, cancelling, …)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from hub.db.fresh import fresh
from hub.db.models import FINISHED_STATUSES, EventKind, JobEvent

from .lifecycle import CHAT_PLATFORMS, Effects

_START_SQL = """
WITH asked AS (SELECT * FROM unnest($1::uuid[], $2::int[]) AS a(id, attempt)),
moved AS (
    UPDATE jobs SET status = 'running', started_at = now(), next_seq = jobs.next_seq + 1
    FROM asked
    WHERE jobs.id = asked.id AND jobs.tenant_id = $3 AND jobs.attempt = asked.attempt AND jobs.worker_id = $4
      AND jobs.status = 'queued'
    RETURNING jobs.id, jobs.next_seq - 1 AS seq, jobs.attempt, jobs.thread_ref->>'platform' AS platform
)
INSERT INTO job_events (job_id, seq, kind, attempt, data, created_at)
SELECT id, seq, 'started', attempt, $5::jsonb, now() FROM moved
RETURNING id, job_id, seq, attempt, created_at, (SELECT platform FROM moved WHERE moved.id = job_id) AS platform
"""

_SUCCEED_SQL = """
WITH asked AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::jsonb[], $4::jsonb[]) AS a(id, attempt, result, data)),
moved AS (
    UPDATE jobs SET status = 'succeeded', finished_at = now(), result = asked.result, next_seq = jobs.next_seq + 1
    FROM asked
    WHERE jobs.id = asked.id AND jobs.tenant_id = $5 AND jobs.attempt = asked.attempt AND jobs.worker_id = $6
      AND jobs.status IN ('running', 'queued')
      AND NOT EXISTS (SELECT 1 FROM job_events e
                      WHERE e.job_id = asked.id AND e.kind = 'cancel_requested' AND e.attempt = asked.attempt)
    RETURNING jobs.id, jobs.next_seq - 1 AS seq, jobs.attempt, asked.data, jobs.thread_ref->>'platform' AS platform
)
INSERT INTO job_events (job_id, seq, kind, attempt, data, created_at)
SELECT id, seq, 'succeeded', attempt, data, now() FROM moved
RETURNING id, job_id, seq, attempt, created_at, (SELECT platform FROM moved WHERE moved.id = job_id) AS platform
"""


@dataclass(frozen=True)
class Run:
    """One run of a job, as an agent names it."""

    job_id: UUID
    attempt: int


def _effects(
    rows: list[dict[str, Any]], kind: EventKind | None = None, data_of: Callable[[UUID], dict[str, Any]] | None = None
) -> Effects:
    """The events a statement inserted (``RETURNING``), to publish; ``kind`` and ``data_of`` (by job id) stand
    in for columns the statement did not return."""
    effects = Effects()
    for row in rows:
        job_id = row["job_id"] if isinstance(row["job_id"], UUID) else UUID(str(row["job_id"]))
        if data_of is not None:
            data = data_of(job_id)
        else:
            data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
        effects.events.append(fresh(
            JobEvent, saved=True, id=row["id"], job_id=job_id, seq=row["seq"], kind=kind or EventKind(row["kind"]),
            attempt=row["attempt"], data=data,
            created_at=row["created_at"] if isinstance(row["created_at"], datetime) else None,
        ))  # fmt: skip
        if row["platform"] in CHAT_PLATFORMS:
            effects.threads.add(job_id)
    return effects


def _unique(runs: list[Run]) -> list[Run]:
    return list({run.job_id: run for run in runs}.values())


async def start(
    connection: BaseDBAsyncClient, runs: list[Run], tenant_id: UUID, worker_id: UUID, worker_name: str
) -> Effects:
    """Queued → running for the runs that are this agent's current attempt; the started events tell which."""
    runs = _unique(runs)
    if not runs:
        return Effects()
    data = {"worker": worker_name}
    rows = await connection.execute_query_dict(
        _START_SQL, [[str(r.job_id) for r in runs], [r.attempt for r in runs], str(tenant_id), str(worker_id),
                     json.dumps(data)],
    )  # fmt: skip
    return _effects(rows, EventKind.STARTED, lambda _: data)


def succeeded_data(result: dict[str, Any]) -> dict[str, Any]:
    return {"outputs": len(result.get("outputs") or [])}


async def succeed(
    connection: BaseDBAsyncClient, runs: list[tuple[Run, dict[str, Any]]], tenant_id: UUID, worker_id: UUID
) -> Effects:
    """Running → succeeded for the current attempts assigned to this agent, unless a cancellation was asked;
    the succeeded events tell which runs moved."""
    unique = list({run.job_id: (run, result) for run, result in runs}.values())
    if not unique:
        return Effects()
    data = {run.job_id: succeeded_data(result) for run, result in unique}
    rows = await connection.execute_query_dict(
        _SUCCEED_SQL, [[str(r.job_id) for r, _ in unique], [r.attempt for r, _ in unique],
                       [json.dumps(result) for _, result in unique], [json.dumps(data[r.job_id]) for r, _ in unique],
                       str(tenant_id), str(worker_id)],
    )  # fmt: skip
    return _effects(rows, EventKind.SUCCEEDED, data.__getitem__)


# A quick read-only run reported with its start (see jobs.agent.runner): queued → succeeded with both
# events, under the start's conditions (this agent's current attempt, still queued) and the success's
# (no cancellation asked).
_START_AND_SUCCEED_SQL = """
WITH asked AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::jsonb[], $4::jsonb[]) AS a(id, attempt, result, data)),
moved AS (
    UPDATE jobs SET status = 'succeeded', started_at = now(), finished_at = now(), result = asked.result,
                    next_seq = jobs.next_seq + 2
    FROM asked
    WHERE jobs.id = asked.id AND jobs.tenant_id = $5 AND jobs.attempt = asked.attempt AND jobs.worker_id = $6
      AND jobs.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM job_events e
                      WHERE e.job_id = asked.id AND e.kind = 'cancel_requested' AND e.attempt = asked.attempt)
    RETURNING jobs.id, jobs.next_seq - 2 AS seq, jobs.attempt, asked.data, jobs.thread_ref->>'platform' AS platform
)
INSERT INTO job_events (job_id, seq, kind, attempt, data, created_at)
SELECT id, seq + step.n, step.kind, attempt, CASE step.n WHEN 0 THEN $7::jsonb ELSE data END, now()
FROM moved CROSS JOIN (VALUES (0, 'started'), (1, 'succeeded')) AS step(n, kind)
RETURNING id, job_id, seq, kind, attempt, data, created_at,
          (SELECT platform FROM moved WHERE moved.id = job_id) AS platform
"""


async def start_and_succeed(
    connection: BaseDBAsyncClient,
    runs: list[tuple[Run, dict[str, Any]]],
    tenant_id: UUID,
    worker_id: UUID,
    worker_name: str,
) -> Effects:
    """Queued → running → succeeded in one statement, for the runs that are this agent's current attempt
    (as :func:`start` asks) with no cancellation asked (as :func:`succeed`); the events tell which moved."""
    unique = list({run.job_id: (run, result) for run, result in runs}.values())
    if not unique:
        return Effects()
    rows = await connection.execute_query_dict(
        _START_AND_SUCCEED_SQL,
        [[str(r.job_id) for r, _ in unique], [r.attempt for r, _ in unique],
         [json.dumps(result) for _, result in unique], [json.dumps(succeeded_data(result)) for _, result in unique],
         str(tenant_id), str(worker_id), json.dumps({"worker": worker_name})],
    )  # fmt: skip
    return _effects(sorted(rows, key=lambda r: (str(r["job_id"]), r["seq"])))


# Progress, log and output events of many runs at once: each job's sequence numbers are taken in the
# UPDATE (which locks its row, like lifecycle.append_event), then its events are inserted with them.
_EVENTS_SQL = """
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[], $5::jsonb[]) AS t(id, attempt, idx, kind, data)
), counts AS (SELECT id, attempt, count(*)::int AS k FROM input GROUP BY id, attempt),
bumped AS (
    UPDATE jobs SET next_seq = jobs.next_seq + counts.k
    FROM counts
    WHERE jobs.id = counts.id AND jobs.tenant_id = $6 AND jobs.attempt = counts.attempt AND jobs.worker_id = $8
      AND NOT jobs.status = ANY($7::text[])
    RETURNING jobs.id, jobs.next_seq - counts.k AS first_seq, jobs.thread_ref->>'platform' AS platform
)
INSERT INTO job_events (job_id, seq, kind, attempt, data, created_at)
SELECT i.id, b.first_seq + i.idx, i.kind, i.attempt, i.data, now() FROM input i JOIN bumped b ON b.id = i.id
RETURNING id, job_id, seq, kind, attempt, data, created_at,
          (SELECT platform FROM bumped WHERE bumped.id = job_id) AS platform
"""


async def append_events(
    connection: BaseDBAsyncClient,
    runs: list[tuple[Run, list[tuple[EventKind, dict[str, Any]]]]],
    tenant_id: UUID,
    worker_id: UUID,
) -> Effects:
    """Append events to the current attempts, assigned to this agent, of unfinished jobs (one job at most
    once in ``runs``); the returned events tell which runs were current."""
    flat = [(run, index, kind, data) for run, events in runs for index, (kind, data) in enumerate(events)]
    columns = (
        [str(run.job_id) for run, _, _, _ in flat], [run.attempt for run, _, _, _ in flat],
        [index for _, index, _, _ in flat], [kind.value for _, _, kind, _ in flat],
        [json.dumps(data) for _, _, _, data in flat],
    )  # fmt: skip
    if not flat:
        return Effects()
    rows = await connection.execute_query_dict(
        _EVENTS_SQL, [*columns, str(tenant_id), sorted(status.value for status in FINISHED_STATUSES), str(worker_id)]
    )
    return _effects(sorted(rows, key=lambda r: (str(r["job_id"]), r["seq"])))
