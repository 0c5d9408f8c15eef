"""Applying a transaction's :class:`~jobs.lifecycle.Effects` once it has committed."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
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
from .queue import HUB_QUEUE, Enqueue, agent_queue, enqueue_many, wake_key

log = logging.getLogger(__name__)


EVENTS_PREFIX = "gs:events:"
EVENTS_PATTERN = EVENTS_PREFIX + "*"


def event_channel(tenant_id: UUID | str, job_id: UUID | str) -> str:
    """The channel a job's events are published on, once each: hubs subscribe to :data:`EVENTS_PATTERN`
    and route by the tenant and job the name carries (:mod:`hub.live`)."""
    return f"{EVENTS_PREFIX}{tenant_id}:{job_id}"


def parse_event_channel(channel: str) -> tuple[str, str] | None:
    """(tenant id, job id) of an :func:`event_channel` name; None for anything else."""
    if not channel.startswith(EVENTS_PREFIX):
        return None
    tenant_id, sep, job_id = channel[len(EVENTS_PREFIX) :].partition(":")
    return (tenant_id, job_id) if sep and tenant_id and job_id else None


def event_json(event: JobEvent) -> dict[str, Any]:
    return {
        "job_id": str(event.job_id),  # type: ignore[attr-defined]
        "seq": event.seq,
        "kind": event.kind.value,
        "attempt": event.attempt,
        "data": event.data,
        "at": event.created_at.isoformat(),
    }


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


def _notify_items(effects: Effects, now: float) -> list[Enqueue]:
    """One coalescing notify job per chat thread touched (see :func:`notify_job_id`)."""
    finals = {e.job_id for e in effects.events if e.kind.value in TERMINAL_KINDS}  # type: ignore[attr-defined]
    items = []
    for job_id in effects.threads:
        arq_id, due = notify_job_id(job_id, now, final=job_id in finals)
        items.append(Enqueue(NOTIFY_TASK, (str(job_id),), arq_id, HUB_QUEUE, due))
    return items


SEND_BATCH = 500


class EffectApplier:
    """Applies effects after commit, at once or in the background (request paths answer first:
    the outbox relay covers anything a background task does not finish).

    In the background, what concurrent requests leave behind is applied together: one task sends
    the outbox rows (one pipeline and one UPDATE per batch), another publishes the events, aborts
    and chat notifications (one pipeline per batch), each starting at once when idle and taking
    everything that arrived meanwhile when busy. Order is kept: a job's events go out in the order
    their transactions committed."""

    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._pending: set[asyncio.Task[None]] = set()
        self._to_send: list[OutboxMessage] = []
        self._sender: asyncio.Task[None] | None = None
        self._to_publish: list[tuple[UUID, Effects]] = []
        self._publisher: asyncio.Task[None] | None = None

    async def apply(self, tenant_id: UUID, effects: Effects) -> None:
        await apply(self.redis, tenant_id, effects)

    def apply_later(self, tenant_id: UUID, effects: Effects) -> None:
        if effects.outbox:
            self.send_later(effects.outbox)
        if not (effects.events or effects.aborts or effects.threads):
            return
        self._to_publish.append(
            (tenant_id, Effects(events=effects.events, aborts=effects.aborts, threads=effects.threads))
        )
        if self._publisher is None or self._publisher.done():
            self._publisher = self._background(self._publish_waiting())

    def send_later(self, messages: list[OutboxMessage]) -> None:
        """Enqueue outbox rows after the answer, batched with whatever else is waiting: one Redis
        pipeline and one UPDATE per batch under load (the relay covers a failure)."""
        self._to_send.extend(messages)
        if self._sender is None or self._sender.done():
            self._sender = self._background(self._send_waiting())

    def _background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._done)
        return task

    async def _send_waiting(self) -> None:
        while self._to_send:
            batch, self._to_send = self._to_send[:SEND_BATCH], self._to_send[SEND_BATCH:]
            await outbox.send_batch(self.redis, batch)

    async def _publish_waiting(self) -> None:
        while self._to_publish:
            batch, self._to_publish = self._to_publish, []
            try:
                await publish_all(self.redis, batch)
            except (RedisError, OSError) as exc:
                log.warning("could not publish job events", extra={"error": type(exc).__name__})

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("applying job effects failed", exc_info=task.exception())

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for background applications (at shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)


async def publish_all(redis: ArqRedis, batch: list[tuple[UUID, Effects]]) -> None:
    """Publish the events (to live listeners, who catch up from Postgres if they miss some), deliver the
    aborts (the agent's arq worker cancels the run, which sends MCP cancellation) and ask for the chat
    notifications of several transactions' effects: one pipeline, and one more round trip for chat."""
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        for tenant_id, effects in batch:
            for event in effects.events:
                pipe.publish(event_channel(tenant_id, event.job_id), json.dumps(event_json(event)))  # type: ignore[attr-defined]
            for worker_id, arq_job_id in effects.aborts:
                pipe.zadd(abort_jobs_ss, {arq_job_id: timestamp_ms()})
                pipe.lpush(wake_key(agent_queue(str(worker_id))), b"1")
        await pipe.execute()
    notes = [item for _, effects in batch for item in _notify_items(effects, now)]
    if notes:
        await enqueue_many(redis, notes)


async def apply(redis: ArqRedis, tenant_id: UUID, effects: Effects) -> None:
    """Send outbox rows now (the relay retries what fails), publish events, deliver aborts."""
    await outbox.send_batch(redis, effects.outbox)
    try:
        await publish_all(redis, [(tenant_id, effects)])
    except (RedisError, OSError) as exc:
        log.warning("could not publish job events", extra={"error": type(exc).__name__})
