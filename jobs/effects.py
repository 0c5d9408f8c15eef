"""Applying a transaction's :class:`~jobs.lifecycle.Effects` once it has committed."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms
from redis.exceptions import RedisError

from hub.db.models import JobEvent, OutboxMessage

from . import outbox
from .lifecycle import Effects
from .queue import HUB_QUEUE, agent_queue, enqueue, wake_key

log = logging.getLogger(__name__)


def job_channel(job_id: UUID | str) -> str:
    return f"gs:events:job:{job_id}"


def tenant_channel(tenant_id: UUID | str) -> str:
    return f"gs:events:tenant:{tenant_id}"


def event_json(event: JobEvent) -> dict[str, Any]:
    return {
        "job_id": str(event.job_id),  # type: ignore[attr-defined]
        "seq": event.seq,
        "kind": event.kind.value,
        "attempt": event.attempt,
        "data": event.data,
        "at": event.created_at.isoformat(),
    }


async def publish(redis: ArqRedis, tenant_id: UUID, events: list[JobEvent]) -> None:
    """Fan events out to live listeners (WebSocket clients); they catch up from Postgres if missed."""
    if not events:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            message = json.dumps(event_json(event))
            pipe.publish(job_channel(event.job_id), message)  # type: ignore[attr-defined]
            pipe.publish(tenant_channel(tenant_id), message)
        await pipe.execute()


TERMINAL_KINDS = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
NOTIFY_TASK = "notify_thread"
NOTIFY_INTERVAL_S = 1.0


def notify_job_id(job_id: UUID, now: float, *, final: bool) -> tuple[str, datetime | None]:
    """Coalescing by arq job id: one update per job per second (the id names the second, and the
    run is deferred to its end, so it posts the latest state); a final update goes at once."""
    if final:
        return f"notify:{job_id}:final", None
    bucket = int(now // NOTIFY_INTERVAL_S)
    return f"notify:{job_id}:{bucket}", datetime.fromtimestamp((bucket + 1) * NOTIFY_INTERVAL_S, UTC)


async def notify_threads(redis: ArqRedis, effects: Effects) -> None:
    """Ask the hub worker to bring the chat threads of these jobs up to date."""
    for job_id in effects.threads:
        final = any(
            e.kind.value in TERMINAL_KINDS
            for e in effects.events
            if e.job_id == job_id  # type: ignore[attr-defined]
        )
        arq_id, due = notify_job_id(job_id, time.time(), final=final)
        await enqueue(redis, NOTIFY_TASK, str(job_id), job_id=arq_id, queue=HUB_QUEUE, defer_until=due)


async def abort(redis: ArqRedis, worker_id: UUID, arq_job_id: str) -> None:
    """Ask the agent's arq worker to cancel a running job (it sends MCP cancellation)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(abort_jobs_ss, {arq_job_id: timestamp_ms()})
        pipe.lpush(wake_key(agent_queue(str(worker_id))), b"1")
        await pipe.execute()


SEND_BATCH = 500


class EffectApplier:
    """Applies effects after commit, at once or in the background (request paths answer first:
    the outbox relay covers anything a background task does not finish)."""

    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._pending: set[asyncio.Task[None]] = set()
        self._to_send: list[OutboxMessage] = []
        self._sender: asyncio.Task[None] | None = None

    async def apply(self, tenant_id: UUID, effects: Effects) -> None:
        await apply(self.redis, tenant_id, effects)

    def apply_later(self, tenant_id: UUID, effects: Effects) -> None:
        if effects.outbox:
            self.send_later(effects.outbox)
        rest = Effects(events=effects.events, aborts=effects.aborts, threads=effects.threads)
        if not (rest.events or rest.aborts):
            return
        task = asyncio.create_task(apply(self.redis, tenant_id, rest))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def send_later(self, messages: list[OutboxMessage]) -> None:
        """Enqueue outbox rows after the answer, batched with whatever else is waiting: one Redis
        pipeline and one UPDATE per batch under load (the relay covers a failure)."""
        self._to_send.extend(messages)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting())
            self._pending.add(self._sender)
            self._sender.add_done_callback(self._done)

    async def _send_waiting(self) -> None:
        while self._to_send:
            batch, self._to_send = self._to_send[:SEND_BATCH], self._to_send[SEND_BATCH:]
            await outbox.send_batch(self.redis, batch)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("applying job effects failed", exc_info=task.exception())

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for background applications (at shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)


async def apply(redis: ArqRedis, tenant_id: UUID, effects: Effects) -> None:
    """Send outbox rows now (the relay retries what fails), publish events, deliver aborts."""
    await outbox.send_batch(redis, effects.outbox)
    try:
        await publish(redis, tenant_id, effects.events)
        await notify_threads(redis, effects)
        for worker_id, arq_job_id in effects.aborts:
            await abort(redis, worker_id, arq_job_id)
    except (RedisError, OSError) as exc:
        log.warning("could not publish job events", extra={"error": type(exc).__name__})
