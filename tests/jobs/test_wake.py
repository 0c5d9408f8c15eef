"""Wake-ups from ack paths to the hub worker, over real Redis: prompt when pushed, a look every idle
period anyway, and a burst of wake-ups costs one push in flight."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from jobs import wake


async def test_a_wake_up_runs_the_work_at_once_and_without_one_it_runs_every_idle_period(redis_url: str) -> None:
    runs: list[float] = []

    async def work() -> bool:
        runs.append(time.monotonic())
        return False

    key = "gs:wake:test"
    worker = asyncio.create_task(wake.work_when_woken(redis_url, key, work, idle_s=2.0))
    redis = Redis.from_url(redis_url)
    waker = wake.Waker(redis, key)
    try:
        while not runs:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # blocked on the list now
        woken_at = time.monotonic()
        for _ in range(100):
            waker.wake()
        while len(runs) < 2:
            await asyncio.sleep(0.005)
        assert runs[1] - woken_at < 0.5, "woken long before the idle period ends"
        await asyncio.sleep(0.3)
        assert len(runs) == 2, "a burst of wake-ups makes one round of work"
        assert await redis.llen(key) == 0  # type: ignore[misc]
        while len(runs) < 3:
            await asyncio.sleep(0.05)
        assert runs[2] - runs[1] >= 1.9, "with no wake-up, the next look comes after the idle period"
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await waker.close()
        await redis.aclose()


async def test_work_that_says_more_is_left_runs_again_before_waiting(redis_url: str) -> None:
    left = [3]

    async def work() -> bool:
        left[0] -= 1
        return left[0] > 0

    worker = asyncio.create_task(wake.work_when_woken(redis_url, "gs:wake:test2", work, idle_s=5.0))
    try:
        started = time.monotonic()
        while left[0] > 0:
            await asyncio.sleep(0.01)
        assert time.monotonic() - started < 2.0
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
