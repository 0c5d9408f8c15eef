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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arq import Worker
from arq.connections import ArqRedis, RedisSettings
from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

HUB_QUEUE = "gs:queue:hub"
WAKE_SUFFIX = ":wake"
FALLBACK_POLL_S = 2.0
WAKE_LIST_MAX = 64
REDIS_RETRY_MAX_S = 5.0


def agent_queue(worker_id: str) -> str:
    return f"gs:queue:agent:{worker_id}"


def wake_key(queue: str) -> str:
    return queue + WAKE_SUFFIX


# arq's enqueue_job, in one round trip: store the job unless it (or its result) exists, add it to the
# queue, and push a wake-up when it is due now. Same keys and serialisation as arq, so arq workers run it.
_ENQUEUE_LUA = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
if ARGV[5] == '1' then
  redis.call('LPUSH', KEYS[4], '1')
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[6]) - 1)
end
return 1
"""


async def enqueue(
    redis: ArqRedis,
    task: str,
    *args: Any,
    job_id: str,
    queue: str,
    defer_until: datetime | None = None,
) -> bool:
    """Enqueue ``task`` once per ``job_id`` and wake the queue's worker; False if it already exists."""
    return (await enqueue_many(redis, [Enqueue(task, args, job_id, queue, defer_until)]))[0]


@dataclass(frozen=True)
class Enqueue:
    task: str
    args: tuple[Any, ...]
    job_id: str
    queue: str
    defer_until: datetime | None = None


async def enqueue_many(redis: ArqRedis, items: list[Enqueue]) -> list[bool]:
    """Enqueue several jobs, for each whether it was new: one EVALSHA for a single job, one pipeline
    for several (a pipeline first checks that the script is loaded: one more round trip, amortised)."""
    script = redis.register_script(_ENQUEUE_LUA)
    calls = [_script_call(redis, item) for item in items]
    if len(calls) == 1:
        return [bool(await script(keys=calls[0][0], args=calls[0][1]))]
    async with redis.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            await script(keys=keys, args=args, client=pipe)
        results = await pipe.execute()
    return [bool(result) for result in results]


def _script_call(redis: ArqRedis, item: Enqueue) -> tuple[list[str], list[Any]]:
    now_ms = timestamp_ms()
    score = to_unix_ms(item.defer_until) if item.defer_until is not None else now_ms
    expires_ms = max(score - now_ms, 0) + expires_extra_ms
    data = serialize_job(item.task, item.args, {}, None, now_ms, serializer=redis.job_serializer)
    keys = [job_key_prefix + item.job_id, result_key_prefix + item.job_id, item.queue, wake_key(item.queue)]
    wake = "1" if score <= now_ms else "0"
    return keys, [expires_ms, data, score, item.job_id, wake, WAKE_LIST_MAX]


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
        failures = 0
        try:
            while True:
                self._wake.clear()
                try:
                    await self._poll_iteration()
                    await self._sleep_until_woken()
                    failures = 0
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    # Redis restarting: keep the running jobs, wait, and poll again (arq itself would exit).
                    failures += 1
                    delay = min(REDIS_RETRY_MAX_S, 0.25 * 2 ** min(failures, 6))
                    log.warning("redis unavailable; retrying", extra={"error": type(exc).__name__, "in_s": delay})
                    await asyncio.sleep(delay)
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
