"""Our seam over arq: queue names, enqueue-with-wake-up, and a worker that sleeps until woken.

arq finds work by polling a sorted set (``poll_delay``, 0.5 s by default): dispatch latency is
then half the poll interval on average, and a short interval polls Redis constantly. Here every
enqueue also pushes to a small wake-up list beside the queue; the worker blocks on that list
(BLPOP, no traffic while idle) with its poll queued behind it on the same connection, so Redis
polls the moment something arrives. A slow fallback poll, shortened to the next deferred job's due
time, covers retries scheduled for later."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arq import Worker
from arq.connections import ArqRedis, RedisSettings
from arq.constants import (
    abort_job_max_age,
    abort_jobs_ss,
    expires_extra_ms,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_ms, to_unix_ms
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .redis_packing import pack_with_hiredis

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
_ENQUEUE_SHA = hashlib.sha1(_ENQUEUE_LUA.encode(), usedforsecurity=False).hexdigest()  # its name in Redis


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
    """Enqueue several jobs in one round trip, for each whether it was new."""
    if not items:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        add_enqueues(pipe, redis, items)
        replies = await pipe.execute(raise_on_error=False)
    return await enqueue_replies(redis, items, replies)


def add_enqueues(pipe: Pipeline, redis: ArqRedis, items: list[Enqueue]) -> None:
    """Add the enqueue script's calls for ``items`` to ``pipe`` (by its SHA: no SCRIPT EXISTS round trip,
    unlike redis-py's pipelined scripts); :func:`enqueue_replies` reads their replies."""
    for item in items:
        keys, args = _script_call(redis, item)
        pipe.evalsha(_ENQUEUE_SHA, len(keys), *keys, *args)


async def enqueue_replies(redis: ArqRedis, items: list[Enqueue], replies: list[Any]) -> list[bool]:
    """For each of :func:`add_enqueues`' calls (their replies, in order), whether its job was new. After a
    Redis restart the script is not loaded (NOSCRIPT: nothing ran): load it and run those calls again.
    Any other error is raised."""
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        await redis.script_load(_ENQUEUE_LUA)
        async with redis.pipeline(transaction=False) as pipe:
            add_enqueues(pipe, redis, [items[i] for i in missing])
            for index, reply in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
                replies[index] = reply
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return [bool(reply) for reply in replies]


def _script_call(redis: ArqRedis, item: Enqueue) -> tuple[list[str], list[Any]]:
    now_ms = timestamp_ms()
    score = to_unix_ms(item.defer_until) if item.defer_until is not None else now_ms
    expires_ms = max(score - now_ms, 0) + expires_extra_ms
    data = serialize_job(item.task, item.args, {}, None, now_ms, serializer=redis.job_serializer)
    keys = [job_key_prefix + item.job_id, result_key_prefix + item.job_id, item.queue, wake_key(item.queue)]
    wake = "1" if score <= now_ms else "0"
    return keys, [expires_ms, data, score, item.job_id, wake, WAKE_LIST_MAX]


# One round trip per poll: claim every due job that is not in progress (up to the free slots) the
# way arq's start_jobs does with WATCH/EXISTS/ZSCORE/MULTI per job, and (with a job key prefix) do
# for each what arq's run_job does first: read the job, count the try, take it off the abort set;
# read the abort requests, drop the wake-ups this poll answers, and say when the next deferred job
# is due and whether due jobs wait, and Redis's time (µs: which of two polls ran last). Each claim is
# five values: id, score, job, try, aborted. "Now" is the later of ARGV's and Redis's clock: a poll
# sent behind a BLPOP runs when that returns, maybe seconds after it was sent.
# KEYS: queue, abort set, wake list. ARGV: now ms, free slots, in-progress ttl ms, read limit,
# abort requests' max age (ms; those dated later than now + it are dropped, as arq does; -1 when
# the worker does not abort), in-progress key prefix, job key
# prefix ('' to leave the fetch to run_job), retry key prefix, retry key ttl s.
_POLL_LUA = """
local time = redis.call('TIME')
local now = math.max(tonumber(ARGV[1]), time[1] * 1000 + math.floor(time[2] / 1000))
redis.call('DEL', KEYS[3])
local free = tonumber(ARGV[2])
local claimed, waiting = {}, 0
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))
for i = 1, #due, 2 do
  local key = ARGV[6] .. due[i]
  if redis.call('EXISTS', key) == 0 then
    if free > 0 then
      redis.call('PSETEX', key, ARGV[3], '1')
      local job, tries, aborted = false, false, false
      if ARGV[7] ~= '' then
        job = redis.call('GET', ARGV[7] .. due[i])
        tries = redis.call('INCR', ARGV[8] .. due[i])
        redis.call('EXPIRE', ARGV[8] .. due[i], ARGV[9])
        if tonumber(ARGV[5]) >= 0 then aborted = redis.call('ZREM', KEYS[2], due[i]) end
      end
      for _, value in ipairs({due[i], due[i + 1], job, tries, aborted}) do claimed[#claimed + 1] = value end
      free = free - 1
    else
      waiting = waiting + 1
    end
  end
end
local aborts = {}
if tonumber(ARGV[5]) >= 0 then
  aborts = redis.call('ZRANGE', KEYS[2], 0, -1)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], now + tonumber(ARGV[5]), '+inf')
end
local later = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local next_due = later[2] or false
return {claimed, aborts, next_due, waiting, time[1] * 1000000 + time[2]}
"""
_POLL_SHA = hashlib.sha1(_POLL_LUA.encode(), usedforsecurity=False).hexdigest()


# Every claim on a queue's jobs dropped (their in-progress keys), for an agent starting up: one process at a
# time consumes an agent's queue (hub.services.agent_sessions), so a claim found then is one a crashed
# predecessor left behind. arq would honour it until its TTL ends (the longest job timeout, hours for an
# agent), and the jobs it names would wait that long. Their try counters go too: the claim counted a
# try (arq's INCR at the start of a run), and with it the next claim would be refused as "max retries
# exceeded" without running (a run is one attempt; the hub counts attempts, arq must not).
# KEYS: queue. ARGV: in-progress key prefix, retry key prefix.
_RELEASE_LUA = """
local released = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('DEL', ARGV[1] .. id) == 1 then
    released = released + 1
    redis.call('DEL', ARGV[2] .. id)
  end
end
return released
"""


async def release_claims(redis: Redis, queue: str) -> int:
    """Drop every claim on ``queue``'s jobs (see ``_RELEASE_LUA``); how many there were."""
    return int(await redis.eval(_RELEASE_LUA, 1, queue, in_progress_key_prefix, retry_key_prefix))  # type: ignore[misc]


RETRY_KEY_TTL_S = 88400  # arq's run_job sets this on the retry counter
Prefetch = tuple[bytes | None, int, int]  # the replies of GET job, INCRBY retry, ZREM abort


class _PrefetchedPipeline(Pipeline):
    """Answers arq's per-job fetch at the top of ``run_job`` (GET job, INCR and EXPIRE its retry counter,
    ZREM it from the abort set) with what the poll script already did for that job, without a round
    trip; any other use is an ordinary pipeline."""

    def __init__(self, prefetched: dict[str, Prefetch], *args: Any) -> None:
        super().__init__(*args)
        self._prefetched = prefetched

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        answer = self._answer()
        if answer is None:
            return await super().execute(raise_on_error)
        await self.reset()  # type: ignore[no-untyped-call]
        return answer

    def _answer(self) -> list[Any] | None:
        commands = [args for args, _ in self.command_stack]
        if len(commands) not in (3, 4) or commands[0][0] != "GET" or not isinstance(commands[0][1], str):
            return None
        job_id = commands[0][1].removeprefix(job_key_prefix)
        retry_key = retry_key_prefix + job_id
        expected = [("GET", job_key_prefix + job_id), ("INCRBY", retry_key, 1), ("EXPIRE", retry_key, RETRY_KEY_TTL_S),
                    ("ZREM", abort_jobs_ss, job_id)][: len(commands)]  # fmt: skip
        if commands != expected or job_id not in self._prefetched:
            return None
        job, tries, aborted = self._prefetched.pop(job_id)
        return [job, tries, True, aborted][: len(commands)]


class _PrefetchingRedis(ArqRedis):
    """The worker's arq client: its pipelines answer run_job's fetch from ``prefetched`` (by job id)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefetched: dict[str, Prefetch] = {}

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return _PrefetchedPipeline(self.prefetched, self.connection_pool, self.response_callbacks, transaction,
                                   shard_hint)  # fmt: skip


@dataclass
class _Finish:
    job_id: str
    finish: bool
    result_data: bytes | None
    result_timeout_s: float | None
    keep_result_forever: bool
    incr_score: int | None
    keep_in_progress: float | None


class WakeableWorker(Worker):
    """An arq worker that blocks on its queue's wake-up list instead of polling constantly.

    Same keys and semantics as arq's Worker, fewer round trips: a poll is one script (claims, aborts,
    next due time), sent right behind a BLPOP on the wake-up list on a connection of its own, so Redis
    runs it the moment something is pushed and a wake-up costs no round trip of its own; the endings of
    jobs that finish together are written in one pipeline. The free slots that blocked poll may fill
    are set aside until it returns. When due jobs wait for a slot, a finished job frees one and a
    second loop polls at once on the ordinary connection."""

    def __init__(self, *args: Any, sole_consumer: bool = False, **kwargs: Any) -> None:
        """``sole_consumer``: no other process consumes this queue (an agent's own), so claims found at start
        are stale and released (:func:`release_claims`)."""
        kwargs.setdefault("poll_delay", FALLBACK_POLL_S)
        super().__init__(*args, **kwargs)
        self._sole_consumer = sole_consumer
        self._wake = asyncio.Event()  # a slot is free and due jobs wait for one
        self._reserved = 0  # free slots the blocked poll may fill
        self._waiting_for_slot = False
        self._last_poll_us = 0
        self._next_due_ms: float | None = None
        self._finishes: list[tuple[_Finish, asyncio.Future[None]]] = []
        self._finisher: asyncio.Task[None] | None = None

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
            # arq's pool has checked Redis with a connection that packs in Python; replace it.
            connections = pack_with_hiredis(self._pool.connection_pool)
            await connections.disconnect()
            connections.reset()  # type: ignore[no-untyped-call]
            self._pool = _PrefetchingRedis(connections, self.job_serializer, self.job_deserializer, self.queue_name,
                                           self.expires_extra_ms)  # fmt: skip
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        if self._sole_consumer:
            await self._retrying(self._release_stale_claims)
        await self._retrying(self._poll)
        loops = [asyncio.create_task(self._poll_when_woken()), asyncio.create_task(self._poll_when_slot_frees())]
        try:
            await asyncio.gather(*loops)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _release_stale_claims(self) -> None:
        if released := await release_claims(self.pool, self.queue_name):
            log.warning("released the claims a previous process left", extra={"jobs": released})

    async def _retrying(self, poll: Callable[[], Awaitable[None]]) -> None:
        """One poll; while Redis is unreachable (restarting), keep the running jobs, wait and try again
        (arq itself would exit)."""
        failures = 0
        while True:
            try:
                await poll()
                return
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                failures += 1
                delay = min(REDIS_RETRY_MAX_S, 0.25 * 2 ** min(failures, 6))
                log.warning("redis unavailable; retrying", extra={"error": type(exc).__name__, "in_s": delay})
                await asyncio.sleep(delay)

    def _free(self) -> int:
        return max(0, self.max_jobs - self.job_counter - self._reserved) if self.allow_pick_jobs else 0

    def _poll_call(self, free: int) -> tuple[list[str], list[int | str]]:
        abort_max_age = abort_job_max_age if self.allow_abort_jobs else -1
        keys = [self.queue_name, abort_jobs_ss, wake_key(self.queue_name)]
        in_progress_ms = int(self.in_progress_timeout_s * 1000)
        limit = self.queue_read_limit + self.job_counter
        prefix = job_key_prefix if isinstance(self._pool, _PrefetchingRedis) else ""
        args: list[int | str] = [timestamp_ms(), free, in_progress_ms, limit, abort_max_age,
                                 in_progress_key_prefix, prefix, retry_key_prefix, RETRY_KEY_TTL_S]  # fmt: skip
        return keys, args

    async def _poll(self, client: Redis | None = None, block_s: float = 0.0) -> None:
        """Claim what is due. With ``client`` (the blocked poll's own connection) and ``block_s``, the poll
        waits behind a BLPOP of the wake-up list of up to ``block_s``; the free slots it may fill are set
        aside meanwhile."""
        free = self._free()
        keys, args = self._poll_call(free)
        self._reserved += free
        try:
            async with (client or self.pool).pipeline(transaction=False) as pipe:
                if block_s > 0.001:
                    pipe.execute_command("BLPOP", wake_key(self.queue_name), round(block_s, 3))
                pipe.execute_command("EVALSHA", _POLL_SHA, len(keys), *keys, *args)
                try:
                    reply = (await pipe.execute(raise_on_error=False))[-1]
                except BaseException:
                    if client is not None:
                        await client.connection_pool.disconnect()  # a reply may still be on its way
                    raise
        finally:
            self._reserved -= free
        if isinstance(reply, NoScriptError):  # Redis restarted: the script is gone (a wake-up was taken)
            await self.pool.script_load(_POLL_LUA)
            return await self._poll()
        if isinstance(reply, Exception):
            raise reply
        await self._take(reply)

    async def _poll_when_slot_frees(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._retrying(self._poll)

    async def _poll_when_woken(self) -> None:
        """BLPOP the wake-up list (until the fallback poll or the next deferred job is due) with the poll
        script right behind it on a connection of its own."""
        client = _blocking_client(self.redis_settings)
        try:
            while True:
                await self._retrying(lambda: self._poll(client, self._block_s()))
        finally:
            await client.aclose()

    def _block_s(self) -> float:
        """How long the blocked poll may wait for a wake-up: until the fallback poll or the next deferred
        job, and not at all when due jobs wait and a slot has freed since the last poll."""
        if self._waiting_for_slot and self._free() > 0:
            return 0.0
        if self._next_due_ms is None:
            return FALLBACK_POLL_S
        return min(FALLBACK_POLL_S, self._next_due_ms / 1000 - time.time())

    async def _take(self, reply: list[Any]) -> None:
        """Start what a poll claimed, cancel what was aborted, note when the next deferred job is due."""
        claimed, aborts, next_due, waiting, redis_us = reply
        if int(redis_us) >= self._last_poll_us:  # the later of two polls says whether jobs wait
            self._last_poll_us = int(redis_us)
            self._waiting_for_slot = int(waiting) > 0
            self._next_due_ms = float(next_due) if next_due else None
        prefetching = isinstance(self._pool, _PrefetchingRedis)
        for index in range(0, len(claimed), 5):
            job_id, score, job, tries, aborted = claimed[index : index + 5]
            if prefetching:
                self.pool.prefetched[job_id.decode()] = (job, tries, aborted)  # type: ignore[attr-defined]
            await self._start(job_id.decode(), int(float(score)))
        if aborts:
            await self._abort([job_id.decode() for job_id in aborts])
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()  # errors in run_job propagate, as in arq
        if self._waiting_for_slot and self._free() > 0:
            self._wake.set()
        await self.heart_beat()

    async def _start(self, job_id: str, score: int) -> None:
        await self.sem.acquire()  # free slots were counted from job_counter, which moves with it: no wait
        self.job_counter += 1
        task = self.loop.create_task(self.run_job(job_id, score), name=job_id)
        task.add_done_callback(self._slot_freed)
        self.tasks[job_id] = task

    def _slot_freed(self, task: asyncio.Task[None]) -> None:
        self._release_sem_dec_counter_on_complete()
        if isinstance(self._pool, _PrefetchingRedis):
            self._pool.prefetched.pop(task.get_name(), None)  # not taken if the run was cancelled first
        if self._waiting_for_slot:
            self._wake.set()

    async def _abort(self, job_ids: list[str]) -> None:
        """Cancel the running jobs among ``job_ids`` (arq's _cancel_aborted_jobs, ids already read)."""
        aborted = {job_id for job_id in job_ids if job_id in self.job_tasks}
        for job_id in aborted:
            self.job_tasks[job_id].cancel()
        if aborted:
            self.aborting_tasks.update(aborted)
            await self.pool.zrem(abort_jobs_ss, *aborted)

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        """arq's finish_job, written together with the other jobs that finish meanwhile."""
        item = _Finish(job_id, finish, result_data, result_timeout_s, keep_result_forever, incr_score,
                       keep_in_progress)  # fmt: skip
        done: asyncio.Future[None] = self.loop.create_future()
        self._finishes.append((item, done))
        if self._finisher is None or self._finisher.done():
            self._finisher = self.loop.create_task(self._write_finishes())
        await done

    async def _write_finishes(self) -> None:
        while self._finishes:
            batch, self._finishes = self._finishes, []
            try:
                async with self.pool.pipeline(transaction=True) as tr:
                    for item, _ in batch:
                        _queue_finish(tr, self.queue_name, item)
                    await tr.execute()
            except Exception as exc:  # each waiter raises it, as arq's own finish_job would
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


def _blocking_client(settings: Any) -> Redis:
    """A connection of its own for the blocked poll (a BLPOP holds its connection until it returns)."""
    assert isinstance(settings, RedisSettings) and isinstance(settings.host, str)
    client = Redis(
        host=settings.host, port=settings.port, db=settings.database, password=settings.password,
        unix_socket_path=settings.unix_socket_path, ssl=settings.ssl, username=settings.username,
    )  # fmt: skip
    pack_with_hiredis(client.connection_pool)
    return client


def _queue_finish(tr: Any, queue: str, item: _Finish) -> None:
    """The commands of arq's finish_job for one job, added to a transaction."""
    delete_keys = []
    in_progress_key = in_progress_key_prefix + item.job_id
    if item.keep_in_progress is None:
        delete_keys.append(in_progress_key)
    else:
        tr.pexpire(in_progress_key, to_ms(item.keep_in_progress))
    if item.finish:
        if item.result_data:
            expire = None if item.keep_result_forever else item.result_timeout_s
            tr.set(result_key_prefix + item.job_id, item.result_data, px=to_ms(expire))
        delete_keys += [retry_key_prefix + item.job_id, job_key_prefix + item.job_id]
        tr.zrem(abort_jobs_ss, item.job_id)
        tr.zrem(queue, item.job_id)
    elif item.incr_score:
        tr.zincrby(queue, item.incr_score, item.job_id)
    if delete_keys:
        tr.delete(*delete_keys)
