"""The two hottest transitions as single SQL statements: an agent starting a run, and a run succeeding.

Each is one atomic ``UPDATE … RETURNING`` feeding the ``INSERT`` of its event, so it costs one round trip
instead of BEGIN / SELECT … FOR UPDATE / INSERT / UPDATE / COMMIT. The ``WHERE`` clause holds the same
conditions as :mod:`jobs.lifecycle` (which it re-checks after any concurrent transition, as Postgres
re-evaluates an UPDATE's condition on a row another transaction changed). When it matches nothing, the
caller falls back to the general path, which explains why (stale attempt, finished, cancelling, …)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from hub.db.models import EventKind, JobEvent

from .lifecycle import CHAT_PLATFORMS, Effects

_START_SQL = """
WITH moved AS (
    UPDATE jobs SET status = 'running', started_at = now(), next_seq = next_seq + 1
    WHERE id = $1 AND tenant_id = $2 AND attempt = $3 AND worker_id = $4 AND status = 'queued'
    RETURNING id, tenant_id, next_seq - 1 AS seq, attempt, thread_ref->>'platform' AS platform
)
INSERT INTO job_events (job_id, seq, kind, attempt, data, created_at)
SELECT id, seq, 'started', attempt, $5::jsonb, now() FROM moved
RETURNING id, job_id, seq, attempt, created_at, (SELECT platform FROM moved) AS platform
"""

_SUCCEED_SQL = """
WITH moved AS (
    UPDATE jobs SET status = 'succeeded', finished_at = now(), result = $4::jsonb, next_seq = next_seq + 1
    WHERE id = $1 AND tenant_id = $2 AND attempt = $3 AND status IN ('running', 'queued')
      AND NOT EXISTS (SELECT 1 FROM job_events e
                      WHERE e.job_id = $1 AND e.kind = 'cancel_requested' AND e.attempt = $3)
    RETURNING id, tenant_id, next_seq - 1 AS seq, attempt, thread_ref->>'platform' AS platform
)
INSERT INTO job_events (job_id, seq, kind, attempt, data, created_at)
SELECT id, seq, 'succeeded', attempt, $5::jsonb, now() FROM moved
RETURNING id, job_id, seq, attempt, created_at, (SELECT platform FROM moved) AS platform
"""


def _effects(row: dict[str, Any], kind: EventKind, data: dict[str, Any]) -> Effects:
    event = JobEvent(
        id=row["id"], job_id=row["job_id"], seq=row["seq"], kind=kind, attempt=row["attempt"], data=data,
        created_at=row["created_at"] if isinstance(row["created_at"], datetime) else None,
    )  # fmt: skip
    effects = Effects(events=[event])
    if row["platform"] in CHAT_PLATFORMS:
        effects.threads.add(row["job_id"])
    return effects


async def start(
    connection: BaseDBAsyncClient, job_id: UUID, tenant_id: UUID, worker_id: UUID, worker_name: str, attempt: int
) -> Effects | None:
    """Queued → running for this agent's current attempt; None when that is not the case."""
    data = {"worker": worker_name}
    rows = await connection.execute_query_dict(
        _START_SQL, [str(job_id), str(tenant_id), attempt, str(worker_id), json.dumps(data)]
    )
    return _effects(rows[0], EventKind.STARTED, data) if rows else None


async def succeed(
    connection: BaseDBAsyncClient, job_id: UUID, tenant_id: UUID, attempt: int, result: dict[str, Any]
) -> Effects | None:
    """Running → succeeded for the current attempt, unless a cancellation was asked; None otherwise."""
    data = {"outputs": len(result.get("outputs") or [])}
    rows = await connection.execute_query_dict(
        _SUCCEED_SQL, [str(job_id), str(tenant_id), attempt, json.dumps(result), json.dumps(data)]
    )
    return _effects(rows[0], EventKind.SUCCEEDED, data) if rows else None
