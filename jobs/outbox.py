"""The transactional outbox: rows written with the state that needs them, relayed to arq.

``add`` is called inside the caller's transaction. ``relay_once`` moves due rows to Redis and
marks them sent; any hub or hub worker may run it (``SKIP LOCKED`` keeps them out of each
other's way). arq job ids are deterministic, so relaying a row twice enqueues it once."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from hub.db.fresh import fresh
from hub.db.models import InboundDelivery, OutboxMessage

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


def enqueue_items(messages: list[OutboxMessage]) -> list[Enqueue]:
    """arq jobs for outbox rows; deferred rows keep their due time in arq too."""
    now = utcnow()
    return [
        Enqueue(m.task, (m.payload,), m.dedupe_key or f"outbox-{m.id}", m.queue or "",
                m.available_at if m.available_at > now else None)
        for m in messages
    ]  # fmt: skip


async def send(redis: ArqRedis, message: OutboxMessage) -> None:
    """Enqueue one outbox row again (its arq job id makes this a no-op while the job exists)."""
    await enqueue_many(redis, enqueue_items([message]))


async def mark_sent(ids: list[int]) -> None:
    if ids:
        await connections.get("default").execute_query(_MARK_SENT_SQL, [ids])


# Raw SQL: this runs after every command's commit, and tortoise builds an UPDATE query in Python
# each time (several times the cost of the statement's round trip).
_MARK_SENT_SQL = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[]) AND sent_at IS NULL"


async def relay_once(redis: ArqRedis, *, horizon_s: float = 60.0, settled_s: float = 0.0) -> int:
    """Send due (or soon due) unsent rows, a batch at a time; return how many were sent. Rows written
    less than ``settled_s`` ago are left to the request that wrote them (it sends them after its commit
    and marks them sent a moment later)."""
    now = utcnow()
    async with in_transaction() as connection:
        rows = (
            await OutboxMessage.filter(
                sent_at__isnull=True,
                available_at__lte=now + timedelta(seconds=horizon_s),
                created_at__lte=now - timedelta(seconds=settled_s),
            )
            .order_by("id")
            .limit(RELAY_BATCH)
            .select_for_update(skip_locked=True)
            .using_db(connection)
        )
        if not rows:
            return 0
        ids = [row.id for row in rows]
        try:
            await enqueue_many(redis, enqueue_items(rows))
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


async def purge_inbound(older_than_s: float = 86400.0) -> int:
    """Forget chat deliveries received long ago: they only recognise repeats, which Slack and Discord
    send within minutes (the job log keeps what they started)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    return await InboundDelivery.filter(received_at__lt=cutoff).delete()


# The ack path of the chat doors in one round trip, for a batch of requests: each delivery (unique per
# source and delivery id) and the task that carries it out, both or neither. A repeated delivery (already
# stored, or earlier in the same batch) inserts nothing and returns no row.
_RECORD_INBOUND_SQL = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
                  AS t(source, delivery_id, task, payload, queue, n)
), delivery AS (
    INSERT INTO inbound_deliveries (source, delivery_id, headers, status, received_at)
    SELECT source, delivery_id, '{}'::jsonb, 'received', now() FROM input ORDER BY n
    ON CONFLICT (source, delivery_id) DO NOTHING
    RETURNING id, source, delivery_id
), task AS (
    INSERT INTO outbox (task, payload, queue, dedupe_key, available_at, attempts, created_at)
    SELECT i.task, jsonb_set(i.payload::jsonb, '{delivery_id}', to_jsonb(d.id)), i.queue, d.source || ':' || d.id,
           now(), 0, now()
    FROM delivery d
    JOIN (SELECT DISTINCT ON (source, delivery_id) * FROM input ORDER BY source, delivery_id, n) i
      ON i.source = d.source AND i.delivery_id = d.delivery_id
    RETURNING id, task, payload, queue, dedupe_key, available_at
)
SELECT task.*, d.source, d.delivery_id FROM task JOIN delivery d ON task.dedupe_key = d.source || ':' || d.id
"""


@dataclass(frozen=True)
class Inbound:
    """A request a chat door received: where from, its id there, and the task that carries it out."""

    source: str
    delivery_id: str
    task: str
    payload: dict[str, Any]
    queue: str


async def record_inbound_many(
    connection: BaseDBAsyncClient, items: list[Inbound], *, as_messages: bool = True
) -> list[Any]:
    """Store inbound deliveries with the outbox rows of their tasks, in one statement; per item its
    outbox row (an :class:`OutboxMessage`, or the raw row when not ``as_messages``: cheaper when the
    relay sends it), or None when it was already recorded. Each task's payload gets the delivery's
    row id as ``delivery_id``."""
    columns = (
        [i.source for i in items], [i.delivery_id[:200] for i in items], [i.task for i in items],
        [json.dumps(i.payload) for i in items], [i.queue for i in items],
    )  # fmt: skip
    rows = await connection.execute_query_dict(_RECORD_INBOUND_SQL, list(columns))
    stored = {(row["source"], row["delivery_id"]): row for row in rows}
    answers = [stored.pop((i.source, i.delivery_id[:200]), None) for i in items]
    return [message_of(row) if row is not None else None for row in answers] if as_messages else answers


def message_of(row: dict[str, Any]) -> OutboxMessage:
    """An outbox row as a raw query returned it (``RETURNING id, task, payload, queue, dedupe_key, available_at``)."""
    payload = row["payload"]
    return fresh(
        OutboxMessage, saved=True, id=row["id"], task=row["task"], queue=row["queue"], dedupe_key=row["dedupe_key"],
        available_at=row["available_at"], payload=json.loads(payload) if isinstance(payload, str) else payload,
    )  # fmt: skip


async def record_inbound(
    connection: BaseDBAsyncClient, *, source: str, delivery_id: str, task: str, payload: dict[str, Any], queue: str
) -> OutboxMessage | None:
    """One inbound delivery (see :func:`record_inbound_many`)."""
    [message] = await record_inbound_many(connection, [Inbound(source, delivery_id, task, payload, queue)])
    return message if isinstance(message, OutboxMessage) else None
