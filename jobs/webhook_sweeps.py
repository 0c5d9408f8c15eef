"""Outbound webhook chores of the hub worker's maintenance loop.

``fan_out`` reads the job event log after a cursor and writes one outbound delivery per event and
subscription (in the transaction that moves the cursor, so an event is neither missed nor doubled);
``dispatch_due`` hands due deliveries to ``deliver_webhook`` under a lease, so a crashed attempt is
tried again when the lease runs out."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from hub.db.webhook_models import (
    HookDelivery,
    HookDeliveryStatus,
    OutboundDelivery,
    OutboundStatus,
    Subscription,
    WebhookCursor,
)
from hub.webhooks.outbound import EVENT_OF_KIND, MAX_REDIRECTS, event_payload

from .context import WorkerContext
from .queue import HUB_QUEUE, enqueue

log = logging.getLogger(__name__)
CURSOR = "job_events"
SETTLE_S = 1.0  # events younger than this may still have uncommitted neighbours with lower ids
FAN_OUT_BATCH = 500
DISPATCH_BATCH = 100
DELIVER_TASK = "deliver_webhook"

_EVENTS_SQL = """
SELECT e.id, e.seq, e.kind, e.attempt, e.data, e.created_at, j.id AS job_id, j.tenant_id, j.tool, j.status,
       j.origin, j.requester, j.error, j.result, j.created_at AS job_created_at, j.finished_at
FROM job_events e JOIN jobs j ON j.id = e.job_id
WHERE e.id > $1 AND e.kind = ANY($2::text[])
ORDER BY e.id LIMIT $3
"""


def _as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    job = {"id": str(row["job_id"]), "tool": row["tool"], "status": row["status"], "origin": row["origin"],
           "requester": row["requester"], "error": row["error"], "result": _as_json(row["result"]),
           "created_at": row["job_created_at"].isoformat(),
           "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None}  # fmt: skip
    event = {"seq": row["seq"], "kind": row["kind"], "attempt": row["attempt"], "data": _as_json(row["data"])}
    return event_payload(EVENT_OF_KIND[row["kind"]], row["created_at"].isoformat(), job, event)


async def _cursor(connection: BaseDBAsyncClient) -> WebhookCursor | None:
    cursor = await WebhookCursor.filter(name=CURSOR).select_for_update(skip_locked=True).using_db(connection).first()
    if cursor is None and not await WebhookCursor.filter(name=CURSOR).using_db(connection).exists():
        # First start: begin at the end of the log (subscribers get what happens from now on).
        await connection.execute_query(
            "INSERT INTO webhook_cursors (name, position, updated_at) "
            "SELECT $1, COALESCE(max(id), 0), now() FROM job_events ON CONFLICT (name) DO NOTHING",
            [CURSOR],
        )
    return cursor


async def fan_out() -> int:
    """Create outbound deliveries for new job events; return how many were created."""
    created = 0
    async with in_transaction() as connection:
        cursor = await _cursor(connection)
        if cursor is None:
            return 0
        rows = await connection.execute_query_dict(_EVENTS_SQL, [cursor.position, list(EVENT_OF_KIND), FAN_OUT_BATCH])
        settled_before = datetime.now(UTC) - timedelta(seconds=SETTLE_S)
        rows = _settled_prefix(rows, settled_before)
        if not rows:
            return 0
        subscriptions = await _subscriptions(connection, {row["tenant_id"] for row in rows})
        deliveries = [
            OutboundDelivery(subscription_id=sub.id, msg_id=f"msg_{row['id']}_{sub.id.hex[:12]}",
                             event_type=EVENT_OF_KIND[row["kind"]], payload=_payload(row),
                             status=OutboundStatus.PENDING, next_attempt_at=datetime.now(UTC))
            for row in rows for sub in subscriptions.get(UUID(str(row["tenant_id"])), [])
            if EVENT_OF_KIND[row["kind"]] in sub.event_types
        ]  # fmt: skip
        if deliveries:
            await OutboundDelivery.bulk_create(deliveries, ignore_conflicts=True, using_db=connection)
            created = len(deliveries)
        cursor.position = int(rows[-1]["id"])
        await cursor.save(update_fields=["position", "updated_at"], using_db=connection)
    return created


def _settled_prefix(rows: list[dict[str, Any]], settled_before: datetime) -> list[dict[str, Any]]:
    """The events up to the first that is too young (stop there: it may be followed by a late commit)."""
    for index, row in enumerate(rows):
        if row["created_at"] > settled_before:
            return rows[:index]
    return rows


async def _subscriptions(connection: BaseDBAsyncClient, tenant_ids: set[Any]) -> dict[UUID, list[Subscription]]:
    found: dict[UUID, list[Subscription]] = {}
    subs = await Subscription.filter(enabled=True, tenant_id__in=[str(t) for t in tenant_ids]).using_db(connection)
    for sub in subs:
        found.setdefault(sub.tenant_id, []).append(sub)  # type: ignore[attr-defined]
    return found


async def dispatch_due(redis: ArqRedis, timeout_s: float) -> int:
    """Enqueue an attempt for each due delivery and lease it; return how many were enqueued."""
    lease = timedelta(seconds=timeout_s * (MAX_REDIRECTS + 1) + 30)
    sent = 0
    async with in_transaction() as connection:
        rows = (
            await OutboundDelivery.filter(status=OutboundStatus.PENDING, next_attempt_at__lte=datetime.now(UTC))
            .order_by("next_attempt_at").limit(DISPATCH_BATCH).select_for_update(skip_locked=True)
            .using_db(connection)
        )  # fmt: skip
        for row in rows:
            arq_id = f"whout:{row.id}:{row.attempts}:{int(time.time())}"
            try:
                await enqueue(redis, DELIVER_TASK, row.id, row.attempts, job_id=arq_id, queue=HUB_QUEUE)
            except (RedisError, OSError) as exc:
                log.warning("outbound delivery waits for Redis", extra={"error": type(exc).__name__})
                break
            await (
                OutboundDelivery.filter(id=row.id)
                .using_db(connection)
                .update(next_attempt_at=datetime.now(UTC) + lease)
            )
            sent += 1
    return sent


async def tick(context: WorkerContext) -> None:
    """One round of the outbound chores (errors are logged; the other chores go on)."""
    try:
        await fan_out()
        await dispatch_due(context.redis, context.settings.webhook_timeout_s)
    except Exception:
        log.exception("outbound webhook round failed")


async def purge_old(retention_days: float) -> tuple[int, int]:
    """Delete deliveries older than the retention: inbound ones already handled (a received one is
    still work to do) and outbound ones that succeeded or were given up (with their attempt log).
    Returns (inbound, outbound) counts."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    inbound = await HookDelivery.filter(received_at__lt=cutoff).exclude(status=HookDeliveryStatus.RECEIVED).delete()
    outbound = await OutboundDelivery.filter(
        created_at__lt=cutoff, status__in=[OutboundStatus.SUCCEEDED, OutboundStatus.FAILED]
    ).delete()
    return inbound, outbound
