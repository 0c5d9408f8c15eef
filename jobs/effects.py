"""Applying a transaction's :class:`~jobs.lifecycle.Effects` once it has committed."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms
from redis.exceptions import RedisError

from hub.db.models import JobEvent, OutboxMessage

from . import outbox
from .lifecycle import Effects
from .queue import HUB_QUEUE, Enqueue, add_enqueues, agent_queue, enqueue_replies, wake_key

log = logging.getLogger(__name__)


EVENTS_PREFIX = "gs:events:"
EVENTS_PATTERN = EVENTS_PREFIX + "*"


def event_channel(tenant_id: UUID | str, job_id: UUID | str, origin: str = "") -> str:
    """The channel a job's events are published on, once each: hubs subscribe to :data:`EVENTS_PATTERN`
    and route by the tenant and job the name carries (:mod:`hub.live`). ``origin`` names the hub process
    that published it, which has already handed it to its own viewers."""
    return f"{EVENTS_PREFIX}{tenant_id}:{job_id}" + (f":{origin}" if origin else "")


def parse_event_channel(channel: str) -> tuple[str, str, str] | None:
    """(tenant id, job id, origin or "") of an :func:`event_channel` name; None for anything else."""
    if not channel.startswith(EVENTS_PREFIX):
        return None
    tenant_id, _, rest = channel[len(EVENTS_PREFIX) :].partition(":")
    job_id, _, origin = rest.partition(":")
    return (tenant_id, job_id, origin) if tenant_id and job_id else None


class LocalViewers(Protocol):
    """The live viewers of this process (:class:`hub.live.LiveEvents`): events published here are handed
    to them at once, and their subscription skips them when Redis echoes them back."""

    origin: str

    def deliver_to(self, tenant_id: str, job_id: str, data: str) -> None: ...


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


def _notify_item(job_id: UUID, now: float, final: bool) -> Enqueue:
    """The coalescing notify job of a chat thread touched (see :func:`notify_job_id`)."""
    arq_id, due = notify_job_id(job_id, now, final=final)
    return Enqueue(NOTIFY_TASK, (str(job_id),), arq_id, HUB_QUEUE, due)


SEND_BATCH = 500
MARK_DELAY_S = 0.25


@dataclass
class _Waiting:
    """Effects committed and not yet sent to Redis (events already encoded)."""

    outbox: list[OutboxMessage] = field(default_factory=list)
    published: list[tuple[str, str]] = field(default_factory=list)  # (channel, data)
    aborts: list[tuple[UUID, str]] = field(default_factory=list)
    notes: list[tuple[UUID, bool]] = field(default_factory=list)  # (job id, final)

    def add(self, tenant_id: UUID, effects: Effects, origin: str) -> list[tuple[str, str, str]]:
        """Take ``effects``; returns (tenant id, job id, data) of each event, for local viewers."""
        self.outbox.extend(effects.outbox)
        self.aborts.extend(effects.aborts)
        finals = {e.job_id for e in effects.events if e.kind.value in TERMINAL_KINDS}  # type: ignore[attr-defined]
        self.notes.extend((job_id, job_id in finals) for job_id in effects.threads)
        events = []
        for event in effects.events:
            job_id, data = str(event.job_id), json.dumps(event_json(event))  # type: ignore[attr-defined]
            self.published.append((event_channel(tenant_id, job_id, origin), data))
            events.append((str(tenant_id), job_id, data))
        return events

    def __bool__(self) -> bool:
        return bool(self.outbox or self.published or self.aborts or self.notes)


class EffectApplier:
    """Applies effects after commit, at once or in the background (request paths answer first:
    the outbox relay covers anything a background task does not finish).

    In the background, what concurrent requests leave behind goes to Redis together, in one pipeline:
    the outbox rows' enqueues first (an agent wakes at once), then the events, aborts and chat
    notifications. It starts at once when idle and takes everything that arrived meanwhile when busy.
    Order is kept: a job's events go out in the order their transactions committed. The events are
    handed to this process's own live viewers (``local``) before that, with no trip through Redis.

    Sent outbox rows are marked sent a moment later (``mark_delay_s``), many in one UPDATE, off the path
    of the run that was just enqueued: a relay that sends such a row again in between enqueues nothing
    (the arq job, or its result, exists under the same id)."""

    def __init__(
        self, redis: ArqRedis, *, local: LocalViewers | None = None, mark_delay_s: float = MARK_DELAY_S
    ) -> None:
        self.redis = redis
        self.local = local
        self.mark_delay_s = mark_delay_s
        self._pending: set[asyncio.Task[None]] = set()
        self._waiting = _Waiting()
        self._flusher: asyncio.Task[None] | None = None
        self._sent: list[int] = []
        self._marker: asyncio.Task[None] | None = None

    async def apply(self, tenant_id: UUID, effects: Effects) -> None:
        await apply(self.redis, tenant_id, effects)

    def apply_later(self, tenant_id: UUID, effects: Effects) -> None:
        events = self._waiting.add(tenant_id, effects, self.local.origin if self.local else "")
        if self.local is not None:
            for tenant, job_id, data in events:
                self.local.deliver_to(tenant, job_id, data)
        self._flush_soon()

    def send_later(self, messages: list[OutboxMessage]) -> None:
        """Enqueue outbox rows after the answer, batched with whatever else is waiting (the relay covers a
        failure)."""
        self._waiting.outbox.extend(messages)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._waiting and (self._flusher is None or self._flusher.done()):
            self._flusher = self._background(self._flush_waiting())

    def _background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._done)
        return task

    async def _flush_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting
            self._waiting = _Waiting(outbox=batch.outbox[SEND_BATCH:])
            batch.outbox = batch.outbox[:SEND_BATCH]
            try:
                await flush(self.redis, batch)
            except (RedisError, OSError) as exc:
                log.warning("could not send job effects (the outbox relay sends the runs)",
                            extra={"error": type(exc).__name__, "rows": len(batch.outbox)})  # fmt: skip
                continue
            self._sent.extend(m.id for m in batch.outbox)
            if self._sent and (self._marker is None or self._marker.done()):
                self._marker = self._background(self._mark_sent())

    async def _mark_sent(self) -> None:
        while self._sent:
            await asyncio.sleep(self.mark_delay_s)
            ids, self._sent = self._sent, []
            await outbox.mark_sent(ids)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("applying job effects failed", exc_info=task.exception())

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for background applications (at shutdown)."""
        self.mark_delay_s = 0.0
        deadline = time.monotonic() + timeout_s
        while self._pending and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._pending), timeout=left)


async def flush(redis: ArqRedis, batch: _Waiting) -> None:
    """Send a batch of effects in one pipeline: the outbox rows' and chat notifications' enqueues, the events
    (to live listeners, who catch up from Postgres if they miss some) and the aborts (the agent's arq worker
    cancels the run, which sends MCP cancellation)."""
    now = time.time()
    items = [*outbox.enqueue_items(batch.outbox), *(_notify_item(job_id, now, final) for job_id, final in batch.notes)]
    async with redis.pipeline(transaction=False) as pipe:
        add_enqueues(pipe, redis, items)
        for channel, data in batch.published:
            pipe.publish(channel, data)
        for worker_id, arq_job_id in batch.aborts:
            pipe.zadd(abort_jobs_ss, {arq_job_id: timestamp_ms()})
            pipe.lpush(wake_key(agent_queue(str(worker_id))), b"1")
        replies = await pipe.execute(raise_on_error=False)
    await enqueue_replies(redis, items, replies[: len(items)])


async def apply(redis: ArqRedis, tenant_id: UUID, effects: Effects) -> None:
    """Send outbox rows now and mark them sent (the relay retries what fails), publish events, deliver aborts."""
    batch = _Waiting()
    batch.add(tenant_id, effects, "")
    try:
        await flush(redis, batch)
    except (RedisError, OSError) as exc:
        log.warning("could not send job effects (the outbox relay sends the runs)", extra={"error": type(exc).__name__})
        return
    await outbox.mark_sent([m.id for m in batch.outbox])
