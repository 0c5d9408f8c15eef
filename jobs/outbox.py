"""The transactional outbox: rows written with the state that needs them, relayed to arq.

``add`` is called inside the caller's transaction. ``relay_once`` moves due rows to Redis and
marks them sent; any hub or hub worker may run it (``SKIP LOCKED`` keeps them out of each
other's way). arq job ids are deterministic, so relaying a row twice enqueues it once."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from hub.db.models import OutboxMessage

from .queue import Enqueue, enqueue_many

log = logging.getLogger(__name__)
RELAY_BATCH = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


async def add(
    connection: BaseDBAsyncClient,
    *,
    task: str,
    payload: dict[str, Any],
    queue: str,
    job_id: str,
    defer_s: float = 0.0,
) -> OutboxMessage:
    """Record a task to enqueue as part of the caller's transaction."""
    return await OutboxMessage.create(
        task=task,
        payload=payload,
        queue=queue,
        dedupe_key=job_id,
        available_at=utcnow() + timedelta(seconds=defer_s),
        using_db=connection,
    )


def _enqueue_items(messages: list[OutboxMessage]) -> list[Enqueue]:
    """arq jobs for outbox rows; deferred rows keep their due time in arq too."""
    now = utcnow()
    return [
        Enqueue(m.task, (m.payload,), m.dedupe_key or f"outbox-{m.id}", m.queue or "",
                m.available_at if m.available_at > now else None)
        for m in messages
    ]  # fmt: skip


async def send(redis: ArqRedis, message: OutboxMessage) -> None:
    """Enqueue one outbox row again (its arq job id makes this a no-op while the job exists)."""
    await enqueue_many(redis, _enqueue_items([message]))


async def send_batch(redis: ArqRedis, messages: list[OutboxMessage]) -> bool:
    """Fast path after commit: enqueue rows in one round trip and mark them sent in one statement;
    False when Redis failed (the relay sends them later)."""
    if not messages:
        return True
    try:
        await enqueue_many(redis, _enqueue_items(messages))
    except (RedisError, OSError) as exc:
        log.warning("enqueue deferred to the outbox relay", extra={"error": type(exc).__name__, "rows": len(messages)})
        return False
    await OutboxMessage.filter(id__in=[m.id for m in messages], sent_at__isnull=True).update(sent_at=utcnow())
    return True


async def relay_once(redis: ArqRedis, *, horizon_s: float = 60.0) -> int:
    """Send due (or soon due) unsent rows, a batch at a time; return how many were sent."""
    async with in_transaction() as connection:
        rows = (
            await OutboxMessage.filter(sent_at__isnull=True, available_at__lte=utcnow() + timedelta(seconds=horizon_s))
            .order_by("id")
            .limit(RELAY_BATCH)
            .select_for_update(skip_locked=True)
            .using_db(connection)
        )
        if not rows:
            return 0
        ids = [row.id for row in rows]
        try:
            await enqueue_many(redis, _enqueue_items(rows))
        except (RedisError, OSError) as exc:
            await (
                OutboxMessage.filter(id__in=ids)
                .using_db(connection)
                .update(attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:500])
            )
            return 0
        await OutboxMessage.filter(id__in=ids).using_db(connection).update(sent_at=utcnow())
    return len(rows)


async def purge_sent(older_than_s: float = 86400.0) -> int:
    """Delete rows sent long ago (the job log keeps the history)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    return await OutboxMessage.filter(sent_at__lt=cutoff).delete()


# The ack path of the chat doors in one round trip: the delivery (unique per source and delivery id) and
# the task that carries it out, both or neither. A repeated delivery inserts nothing and returns no row.
_RECORD_INBOUND_SQL = """
WITH delivery AS (
    INSERT INTO inbound_deliveries (source, delivery_id, headers, status, received_at)
    VALUES ($1, $2, '{}'::jsonb, 'received', now())
    ON CONFLICT (source, delivery_id) DO NOTHING
    RETURNING id
)
INSERT INTO outbox (task, payload, queue, dedupe_key, available_at, attempts, created_at)
SELECT $3, jsonb_set($4::jsonb, '{delivery_id}', to_jsonb(delivery.id)), $5, $1 || ':' || delivery.id, now(), 0, now()
FROM delivery
RETURNING id, task, payload, queue, dedupe_key, available_at
"""


async def record_inbound(
    connection: BaseDBAsyncClient, *, source: str, delivery_id: str, task: str, payload: dict[str, Any], queue: str
) -> OutboxMessage | None:
    """Store an inbound delivery with the outbox row of its task; None when it was already recorded.
    The task's payload gets the delivery's row id as ``delivery_id``."""
    rows = await connection.execute_query_dict(
        _RECORD_INBOUND_SQL, [source, delivery_id[:200], task, json.dumps(payload), queue]
    )
    if not rows:
        return None
    row = rows[0]
    payload_value = row["payload"]
    return OutboxMessage(
        id=row["id"], task=row["task"], queue=row["queue"], dedupe_key=row["dedupe_key"],
        available_at=row["available_at"],
        payload=json.loads(payload_value) if isinstance(payload_value, str) else payload_value,
    )  # fmt: skip
