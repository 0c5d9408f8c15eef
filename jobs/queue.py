"""Our seam over arq: queue names, enqueue-with-wake-up, and a worker that sleeps until woken.

arq finds work by polling a sorted set (``poll_delay``, 0.5 s by default): dispatch latency is
then half the poll interval on average, and a short interval polls Redis constantly. Here every
enqueue also pushes to a small wake-up list beside the queue; the worker blocks on that list
(BLPOP, no traffic while idle) and polls the moment something arrives. A slow fallback poll,
shortened to the next deferred job's due time, covers retries scheduled for later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

from arq import Worker
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

HUB_QUEUE = "gs:queue:hub"
WAKE_SUFFIX = ":wake"
FALLBACK_POLL_S = 2.0
WAKE_LIST_MAX = 64


def agent_queue(worker_id: str) -> str:
    return f"gs:queue:agent:{worker_id}"


def wake_key(queue: str) -> str:
    return queue + WAKE_SUFFIX


async def enqueue(
    redis: ArqRedis,
    task: str,
    *args: Any,
    job_id: str,
    queue: str,
    defer_until: datetime | None = None,
) -> bool:
    """Enqueue ``task`` once per ``job_id`` and wake the queue's worker; False if it already exists."""
    job = await redis.enqueue_job(task, *args, _job_id=job_id, _queue_name=queue, _defer_until=defer_until)
    if defer_until is None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.lpush(wake_key(queue), b"1")
            pipe.ltrim(wake_key(queue), 0, WAKE_LIST_MAX - 1)
            await pipe.execute()
    return job is not None


class WakeableWorker(Worker):
    """An arq worker that blocks on its queue's wake-up list instead of polling constantly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("poll_delay", FALLBACK_POLL_S)
        super().__init__(*args, **kwargs)
        self._wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def main(self) -> None:
        if self._pool is None:
            from arq.connections import create_pool

            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        self._listener = asyncio.create_task(self._listen())
        try:
            while True:
                self._wake.clear()
                await self._poll_iteration()
                await self._sleep_until_woken()
        finally:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _sleep_until_woken(self) -> None:
        delay = FALLBACK_POLL_S
        first = await self.pool.zrange(self.queue_name, 0, 0, withscores=True)
        if first:
            due_in_s = first[0][1] / 1000 - time.time()
            delay = max(0.0, min(delay, due_in_s))
        if delay > 0 and self.job_counter < self.max_jobs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        elif delay > 0:
            await asyncio.sleep(min(delay, 0.05))  # at capacity: a finished job frees a slot

    async def _listen(self) -> None:
        """Block on the wake-up list on a dedicated connection and set the wake event."""
        key = wake_key(self.queue_name)
        settings = self.redis_settings
        assert isinstance(settings, RedisSettings) and isinstance(settings.host, str)
        client = Redis(
            host=settings.host, port=settings.port, db=settings.database, password=settings.password,
            unix_socket_path=settings.unix_socket_path, ssl=settings.ssl, username=settings.username,
        )  # fmt: skip
        try:
            while True:
                try:
                    popped = await client.blpop([key], timeout=30)  # type: ignore[misc]
                except (RedisConnectionError, RedisTimeoutError, OSError):
                    await asyncio.sleep(0.5)
                    self._wake.set()
                    continue
                if popped is not None:
                    self._wake.set()
                    await client.delete(key)  # one wake-up is enough for a burst
        finally:
            await client.aclose()
