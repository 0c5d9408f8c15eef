"""Wake-ups from the hub's ack paths to the hub worker, through small Redis lists.

The ack paths store their work in Postgres and answer; the worker finds it there. A wake-up only
makes that prompt: the hub pushes to a list (at most one push in flight however many requests
arrive), the worker blocks on it (BLPOP: no traffic while idle) and also looks every second anyway,
so a lost wake-up or a Redis outage delays work by a second and loses none."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
HOOK_DELIVERIES = "gs:wake:hook-deliveries"  # accepted webhook deliveries to turn into jobs
OUTBOX = "gs:wake:outbox"  # outbox rows written by an ack path, to relay to arq
PUSH_TIMEOUT_S = 0.25
IDLE_S = 1.0


class Waker:
    """The hub's side: ``wake()`` costs nothing on the request path."""

    def __init__(self, redis: Redis, key: str) -> None:
        self.redis = redis
        self.key = key
        self._wanted = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wanted = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._push())

    async def _push(self) -> None:
        while self._wanted:
            self._wanted = False
            try:
                async with asyncio.timeout(PUSH_TIMEOUT_S):
                    await self.redis.lpush(self.key, b"1")  # type: ignore[misc]
            except (RedisError, OSError, TimeoutError):
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def work_when_woken(
    redis_url: str, key: str, work: Callable[[], Awaitable[bool]], *, idle_s: float = IDLE_S
) -> None:
    """The worker's side: run ``work`` until it says nothing is left (False), then wait for a wake-up
    on ``key`` or ``idle_s``, for ever. An error in ``work`` is logged and the loop goes on."""
    client = Redis.from_url(redis_url)
    try:
        while True:
            try:
                while await work():
                    pass
            except Exception:
                log.exception("work woken by %s failed", key)
            await _wait(client, key, idle_s)
    finally:
        await client.aclose()


async def _wait(client: Redis, key: str, idle_s: float) -> None:
    try:
        if await client.blpop([key], timeout=idle_s) is not None:  # type: ignore[misc, arg-type]
            await client.delete(key)  # one wake-up covers the burst
    except (RedisError, OSError):
        await asyncio.sleep(idle_s)
