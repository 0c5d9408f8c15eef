"""Live job events for the hub's WebSocket viewers: one Redis subscription per hub process.

Every job event is published once, on a channel naming its tenant and job (:func:`jobs.effects.
event_channel`). Each hub holds a single pattern subscription to all of them and hands every event
to the viewers that follow its tenant or its job, in memory: a hundred dashboards cost one Redis
connection, not a hundred, and an event costs Redis one PUBLISH, not one per kind of viewer. The
events this hub publishes itself reach its viewers at once (:meth:`LiveEvents.deliver_to`); their
channel names this hub as their origin, so the subscription skips them when Redis echoes them back.

A viewer that does not keep up is dropped (its queue has a bound) and reconnects; a viewer that
reconnects reads the job's past events from Postgres first, as it does on its first connection.
While Redis is unreachable the subscription retries with backoff; events published meanwhile are
in Postgres (``GET /api/v1/jobs/{id}``), not on the live stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from jobs.effects import EVENTS_PATTERN, parse_event_channel

log = logging.getLogger(__name__)
VIEWER_QUEUE_MAX = 10_000  # events (a few MB): seconds of lag at thousands of events a second
RETRY_MAX_S = 5.0


@dataclass(eq=False)
class Viewer:
    """One WebSocket's view: every event of a tenant, or of one of its jobs. Its queue ends with None
    when the viewer fell :data:`VIEWER_QUEUE_MAX` events behind (one slot is kept for that end)."""

    tenant_id: str
    job_id: str | None
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(VIEWER_QUEUE_MAX + 1))
    dropped: bool = False

    def offer(self, data: str) -> bool:
        """Queue one event; False when that dropped the viewer (its queue was full)."""
        if self.dropped:
            return True
        if self.queue.qsize() < VIEWER_QUEUE_MAX:
            self.queue.put_nowait(data)
            return True
        self.drop()
        return False

    def drop(self) -> None:
        """End the viewer's stream: its socket closes and the client reconnects."""
        if not self.dropped:
            self.dropped = True
            self.queue.put_nowait(None)


class LiveEvents:
    """``follow()`` a tenant or a job, read ``viewer.queue``, ``unfollow()`` when the socket closes."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.origin = uuid.uuid4().hex[:16]
        self._by_tenant: dict[str, set[Viewer]] = defaultdict(set)
        self._by_job: dict[str, set[Viewer]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self, timeout_s: float = 1.0) -> None:
        """Subscribe; returns once the subscription is live (or after ``timeout_s`` with Redis down:
        it keeps trying in the background)."""
        self._reader = asyncio.create_task(self._read_forever())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def follow(self, tenant_id: str, job_id: str | None = None) -> Viewer:
        viewer = Viewer(tenant_id, job_id)
        if job_id is None:
            self._by_tenant[tenant_id].add(viewer)
        else:
            self._by_job[job_id].add(viewer)
        return viewer

    def unfollow(self, viewer: Viewer) -> None:
        index, key = (self._by_tenant, viewer.tenant_id) if viewer.job_id is None else (self._by_job, viewer.job_id)
        viewers = index.get(key)
        if viewers is not None:
            viewers.discard(viewer)
            if not viewers:
                del index[key]

    def viewers(self) -> int:
        return sum(len(v) for v in self._by_tenant.values()) + sum(len(v) for v in self._by_job.values())

    def deliver(self, channel: str, data: str) -> None:
        """Hand one event received from Redis to the viewers of its tenant and of its job (unless this hub
        published it: they have it already)."""
        parsed = parse_event_channel(channel)
        if parsed is None or parsed[2] == self.origin:
            return
        self.deliver_to(parsed[0], parsed[1], data)

    def deliver_to(self, tenant_id: str, job_id: str, data: str) -> None:
        """Hand one event to the viewers of its tenant and of its job."""
        for viewer in (*self._by_tenant.get(tenant_id, ()), *self._by_job.get(job_id, ())):
            if viewer.job_id is not None and viewer.tenant_id != tenant_id:
                continue  # a job id followed under another tenant: never its events
            if not viewer.offer(data):
                log.warning("live viewer fell behind; closing it", extra={"tenant": tenant_id})

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(EVENTS_PATTERN)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "psubscribe":
                        self._subscribed.set()
                        failures = 0
                    elif kind == "pmessage":
                        self.deliver(_text(message["channel"]), _text(message["data"]))
            except (RedisError, OSError) as exc:
                failures += 1
                delay = min(RETRY_MAX_S, 0.1 * 2**failures)
                log.warning("live events subscription lost; retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
