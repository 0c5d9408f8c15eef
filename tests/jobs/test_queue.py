"""The arq seam: wake-ups instead of polling, one enqueue per job id, and surviving a Redis restart."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from arq.connections import RedisSettings, create_pool
from arq.constants import abort_jobs_ss, retry_key_prefix
from arq.jobs import Job
from arq.utils import timestamp_ms

from hub.stores.embedded import start_redis, stop_redis
from jobs.queue import Enqueue, WakeableWorker, _blocking_client, enqueue, enqueue_many, wake_key


async def _record(ctx: dict[str, Any], sent_at: float) -> None:
    ctx["seen"].append(time.time() - sent_at)


def _worker(url: str, ctx: dict[str, Any]) -> WakeableWorker:
    return WakeableWorker(functions=[_record], queue_name="q:test", redis_settings=RedisSettings.from_dsn(url),
                          handle_signals=False, ctx=ctx, keep_result=60)  # fmt: skip


async def _wait(ctx: dict[str, Any], count: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while len(ctx["seen"]) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(ctx["seen"]) >= count


@pytest.mark.timeout(60)
async def test_an_enqueued_job_starts_at_once_and_a_job_id_runs_once(tmp_path: Path) -> None:
    redis = start_redis(tmp_path)
    ctx: dict[str, Any] = {"seen": []}
    worker = _worker(redis.url(), ctx)
    task = asyncio.create_task(worker.main())
    pool = await create_pool(RedisSettings.from_dsn(redis.url()))
    try:
        await asyncio.sleep(0.3)
        assert await enqueue(pool, "_record", time.time(), job_id="a", queue="q:test")
        assert not await enqueue(pool, "_record", time.time(), job_id="a", queue="q:test"), "same id: no second job"
        await _wait(ctx, 1)
        assert ctx["seen"][0] < 0.5, "woken, not found by the 2 s fallback poll"
        await asyncio.sleep(0.5)
        assert len(ctx["seen"]) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.aclose()
        stop_redis(redis)


@pytest.mark.timeout(60)
async def test_the_worker_survives_a_redis_restart_and_runs_what_comes_after(tmp_path: Path) -> None:
    redis = start_redis(tmp_path)
    ctx: dict[str, Any] = {"seen": []}
    task = asyncio.create_task(_worker(redis.url(), ctx).main())
    try:
        await asyncio.sleep(0.3)
        stop_redis(redis)
        await asyncio.sleep(1.5)
        assert not task.done(), "the worker must not exit while Redis is down"
        redis = start_redis(tmp_path)
        pool = await create_pool(RedisSettings.from_dsn(redis.url()))
        await enqueue(pool, "_record", time.time(), job_id="after-restart", queue="q:test")
        await _wait(ctx, 1)
        await pool.aclose()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stop_redis(redis)


async def _slow(ctx: dict[str, Any], name: str) -> None:
    ctx["seen"].append((name, time.monotonic()))
    await asyncio.sleep(ctx["run_s"])
    ctx["ended"].append(time.monotonic())


async def _commands(url: str) -> int:
    pool = await create_pool(RedisSettings.from_dsn(url))
    try:
        return int((await pool.info("stats"))["total_commands_processed"])
    finally:
        await pool.aclose()


@pytest.mark.timeout(60)
async def test_a_running_job_costs_no_polling_and_a_freed_slot_starts_the_next_at_once(tmp_path: Path) -> None:
    redis = start_redis(tmp_path)
    ctx: dict[str, Any] = {"seen": [], "ended": [], "run_s": 1.0}
    worker = WakeableWorker(functions=[_slow], queue_name="q:slots", redis_settings=RedisSettings.from_dsn(redis.url()),
                            handle_signals=False, ctx=ctx, keep_result=60, max_jobs=1)  # fmt: skip
    task = asyncio.create_task(worker.main())
    pool = await create_pool(RedisSettings.from_dsn(redis.url()))
    try:
        await asyncio.sleep(0.3)
        await enqueue(pool, "_slow", "first", job_id="first", queue="q:slots")
        await enqueue(pool, "_slow", "second", job_id="second", queue="q:slots")
        while not ctx["seen"]:
            await asyncio.sleep(0.01)
        before = await _commands(redis.url())
        await asyncio.sleep(0.6)  # the first job runs, the second waits for its slot
        assert await _commands(redis.url()) - before < 10, "no polling while the only slot is busy"
        await _wait(ctx, 2)
        assert [name for name, _ in ctx["seen"]] == ["first", "second"]
        assert ctx["seen"][1][1] - ctx["ended"][0] < 0.5, "the freed slot wakes the worker (not the 2 s poll)"
        while len(ctx["ended"]) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert await pool.zcard("q:slots") == 0, "finished jobs leave the queue"
        assert not await enqueue(pool, "_slow", "again", job_id="first", queue="q:slots"), "its result is kept"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.aclose()
        stop_redis(redis)


async def _tries(ctx: dict[str, Any], name: str) -> None:
    ctx["seen"].append((name, ctx["job_try"]))


@pytest.mark.timeout(60)
async def test_the_poll_fetches_each_job_it_claims_so_a_run_needs_no_round_trip_of_its_own(tmp_path: Path) -> None:
    redis = start_redis(tmp_path)
    ctx: dict[str, Any] = {"seen": []}
    settings = RedisSettings.from_dsn(redis.url())
    worker = WakeableWorker(functions=[_tries], queue_name="q:fetch", redis_settings=settings, handle_signals=False,
                            ctx=ctx, keep_result=60, allow_abort_jobs=True)  # fmt: skip
    task = asyncio.create_task(worker.main())
    pool = await create_pool(RedisSettings.from_dsn(redis.url()))
    try:
        await asyncio.sleep(0.3)
        await pool.set(retry_key_prefix + "again", 1)  # an earlier try of this job ran: this is its second
        await pool.zadd(abort_jobs_ss, {"aborted": timestamp_ms()})  # aborted before it started
        for name in ("one", "two", "again", "aborted"):
            await enqueue(pool, "_tries", name, job_id=name, queue="q:fetch")
        await _wait(ctx, 3)
        deadline = time.monotonic() + 10
        while (info := await Job("aborted", pool).result_info()) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert info is not None and info.success is False and isinstance(info.result, asyncio.CancelledError)
        assert sorted(ctx["seen"]) == [("again", 2), ("one", 1), ("two", 1)], "tries counted as arq counts them"
        assert "cmdstat_incrby" not in await pool.info("commandstats"), "arq's own per-run fetch never ran"
        assert worker.pool.prefetched == {}  # type: ignore[attr-defined]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.aclose()
        stop_redis(redis)


async def test_enqueue_loads_its_script_again_after_redis_forgot_it(redis_url: str) -> None:
    """After a Redis restart (here SCRIPT FLUSH) the script is gone: the enqueue loads it and runs once."""
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        await pool.script_flush()
        items = [Enqueue("_record", (1.0,), f"noscript-{i}", "q:noscript") for i in range(3)]
        assert await enqueue_many(pool, items) == [True, True, True]
        assert await pool.zcard("q:noscript") == 3
        assert await enqueue_many(pool, items) == [False, False, False], "each job id once"
    finally:
        await pool.aclose()


@pytest.mark.timeout(60)
async def test_a_slot_freed_while_due_jobs_wait_is_filled_without_blocking_for_a_wake_up(redis_url: str) -> None:
    """The blocked poll sets aside every free slot; when due jobs already wait (no wake-up will come for
    them) and a slot is free, it claims at once instead of blocking on the wake-up list."""
    queue = f"q:waiting:{time.monotonic_ns()}"
    ctx: dict[str, Any] = {"seen": [], "ended": [], "run_s": 0.0}
    worker = WakeableWorker(functions=[_slow], queue_name=queue, redis_settings=RedisSettings.from_dsn(redis_url),
                            handle_signals=False, ctx=ctx, keep_result=60, max_jobs=2)  # fmt: skip
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    worker._pool = pool
    client = _blocking_client(RedisSettings.from_dsn(redis_url))
    try:
        await enqueue(pool, "_slow", "waiting", job_id=f"{queue}:1", queue=queue)
        await pool.delete(wake_key(queue))  # its wake-up was taken by an earlier poll that had no slot
        worker._waiting_for_slot = True
        started = time.monotonic()
        await worker._poll(client, worker._block_s())
        assert time.monotonic() - started < 1.0, "it blocked on the wake-up list"
        assert worker.job_counter == 1 and list(worker.tasks) == [f"{queue}:1"], "claimed and started"
    finally:
        await asyncio.wait_for(asyncio.gather(*worker.tasks.values(), return_exceptions=True), 10)
        await client.aclose()
        await pool.aclose()


@pytest.mark.timeout(60)
async def test_a_busy_queue_never_waits_for_the_fallback_poll(redis_url: str) -> None:
    """Short jobs through few slots, enqueued while others run: a slot that frees while the blocked poll
    is being sent again must be filled at once, not after the 2 s fallback poll."""
    queue = f"q:busy:{time.monotonic_ns()}"
    ctx: dict[str, Any] = {"seen": [], "ended": [], "run_s": 0.002}
    worker = WakeableWorker(functions=[_slow], queue_name=queue, redis_settings=RedisSettings.from_dsn(redis_url),
                            handle_signals=False, ctx=ctx, keep_result=60, max_jobs=2)  # fmt: skip
    task = asyncio.create_task(worker.main())
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        await asyncio.sleep(0.3)
        started = time.monotonic()
        for i in range(300):
            await enqueue(pool, "_slow", str(i), job_id=f"{queue}:{i}", queue=queue)
            if i % 3 == 0:
                await asyncio.sleep(0.001)
        while len(ctx["ended"]) < 300 and time.monotonic() - started < 30:
            await asyncio.sleep(0.01)
        assert len(ctx["ended"]) == 300
        starts = sorted(at for _, at in ctx["seen"])
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        assert max(gaps) < 0.5, f"a job waited {max(gaps):.2f} s for a free slot"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.aclose()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sole_consumer", [True, False])
async def test_an_agent_starting_up_releases_the_claims_a_killed_process_left_on_its_own_queue(
    redis_url: str, sole_consumer: bool
) -> None:
    """A claim (arq's in-progress key) outlives a SIGKILLed worker for the longest job timeout, hours for an
    agent: the agent, sole consumer of its queue, drops it at start-up and runs the job at once."""
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    ctx: dict[str, Any] = {"seen": []}
    worker = WakeableWorker(functions=[_record], queue_name="q:agent", redis_settings=RedisSettings.from_dsn(redis_url),
                            handle_signals=False, ctx=ctx, keep_result=60, max_tries=1,
                            sole_consumer=sole_consumer)  # fmt: skip
    try:
        assert await enqueue(pool, "_record", time.time(), job_id="run:j:0", queue="q:agent")
        await pool.psetex("arq:in-progress:run:j:0", 7_000_000, b"1")  # what the dead process had claimed
        await pool.set("arq:retry:run:j:0", 1)  # and the try it counted
        task = asyncio.create_task(worker.main())
        await asyncio.sleep(1.0)
        assert len(ctx["seen"]) == (1 if sole_consumer else 0)
        assert await pool.exists("arq:in-progress:run:j:0") == (0 if sole_consumer else 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.aclose()
