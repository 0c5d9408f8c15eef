"""Dispatch latency, MCP call overhead and throughput, each beside its baseline from the same run.

    .venv/bin/python bench/dispatch.py [--quick]

Uses DATABASE_URL / REDIS_URL when set, else embedded stores in a temporary directory.

mcp-server-time marks its tools read-only, so the agent starts their calls while the hub's start gate
answers; the same calls through an agent with ``eager_read_only = false`` show what the gate costs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from arq import Worker
from arq.connections import ArqRedis, RedisSettings, create_pool
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.stack import Stack, cpu_by_role, new_workdir, summary
from jobs.queue import WakeableWorker, enqueue

TIME_SERVER = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server_time"])
TIME_ARGS = {"timezone": "UTC"}
DEMO = "integrations.mcp_servers.demo"


def server_toml(name: str, module: str) -> str:
    return f'[servers.{name}]\ncommand = "{sys.executable}"\nargs = ["-m", "{module}"]\n'


# --- 1. enqueue → start ---------------------------------------------------------------------------
async def _probe(ctx: dict[str, Any], sent_at: float) -> None:
    ctx["latencies"].append(time.time() - sent_at)


async def _commands(redis: ArqRedis) -> int:
    return int((await redis.info("stats"))["total_commands_processed"])


WorkerFactory = Callable[[str, dict[str, Any]], Worker]


async def dispatch_latency(redis_url: str, make: WorkerFactory, n: int, *, wake: bool, poll_s: float) -> dict[str, Any]:
    queue = f"bench:{random.random()}"
    ctx: dict[str, Any] = {"latencies": []}
    worker = make(queue, ctx)
    runner = asyncio.create_task(worker.main())
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    await asyncio.sleep(0.3)
    for i in range(n):
        sent = time.time()
        if wake:
            await enqueue(redis, "_probe", sent, job_id=f"{queue}:{i}", queue=queue)
        else:
            await redis.enqueue_job("_probe", sent, _job_id=f"{queue}:{i}", _queue_name=queue)
        while len(ctx["latencies"]) <= i:
            await asyncio.sleep(0.0005)
        await asyncio.sleep(random.uniform(0.005, poll_s + 0.03))  # land anywhere in the poll cycle
    before = await _commands(redis)
    await asyncio.sleep(3.0)
    idle_per_s = (await _commands(redis) - before - 1) / 3.0
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await worker.close()
    await redis.aclose()
    return {**summary(ctx["latencies"]), "idle_redis_cmds_per_s": round(idle_per_s, 1)}


def raw_arq(poll_s: float) -> Callable[[str, dict[str, Any]], Worker]:
    def make(queue: str, ctx: dict[str, Any]) -> Worker:
        return Worker(functions=[_probe], queue_name=queue, redis_settings=SETTINGS[0], poll_delay=poll_s,
                      handle_signals=False, ctx=ctx, keep_result=0)  # fmt: skip

    return make


def wakeable(queue: str, ctx: dict[str, Any]) -> Worker:
    return WakeableWorker(functions=[_probe], queue_name=queue, redis_settings=SETTINGS[0], handle_signals=False,
                          ctx=ctx, keep_result=0)  # fmt: skip


SETTINGS: list[RedisSettings] = []


# --- 2. MCP call overhead -------------------------------------------------------------------------
async def direct_sdk_calls(n: int, gap_s: float = 0.0) -> dict[str, Any]:
    """Calls on one warm session: back to back, or ``gap_s`` apart (the pace of calls made through the hub,
    between which the server sits idle; waking it costs more than a call right after another)."""
    async with stdio_client(TIME_SERVER) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("get_current_time", TIME_ARGS)
        times = []
        for _ in range(n):
            if gap_s:
                await asyncio.sleep(gap_s)
            started = time.perf_counter()
            await session.call_tool("get_current_time", TIME_ARGS)
            times.append(time.perf_counter() - started)
    return summary(times)


async def process_per_call(n: int) -> dict[str, Any]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        async with stdio_client(TIME_SERVER) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("get_current_time", TIME_ARGS)
        times.append(time.perf_counter() - started)
    return summary(times)


class Finished:
    """Watches the tenant's live events; resolves a future per job when it finishes."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.early: dict[str, float] = {}
        self.events: dict[str, dict[str, str]] = {}

    def expect(self, job_id: str) -> asyncio.Future[float]:
        future = asyncio.get_running_loop().create_future()
        if job_id in self.early:
            future.set_result(self.early.pop(job_id))
        else:
            self.waiting[job_id] = future
        return future

    async def listen(self, session: aiohttp.ClientSession, url: str) -> None:
        async with session.ws_connect(url.replace("http", "ws", 1) + "/api/v1/ws") as ws:
            async for message in ws:
                event = json.loads(message.data)
                self.events.setdefault(event["job_id"], {})[event["kind"]] = event["at"]
                if event["kind"] in ("succeeded", "failed", "cancelled", "timed_out"):
                    at = time.perf_counter()
                    future = self.waiting.pop(event["job_id"], None)
                    if future is None:
                        self.early[event["job_id"]] = at
                    elif not future.done():
                        future.set_result(at)


async def submit(session: aiohttp.ClientSession, url: str, tool: str, arguments: dict[str, Any]) -> str:
    async with session.post(url + "/api/v1/jobs", json={"tool": tool, "arguments": arguments}) as response:
        body = await response.json()
        assert response.status == 201, body
        return str(body["id"])


async def through_hub(stack: Stack, n: int, tool: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from datetime import datetime

    finished = Finished()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.token}"}) as session:
        listener = asyncio.create_task(finished.listen(session, stack.url))
        await asyncio.sleep(0.2)
        times, dispatch = [], []
        for i in range(n + 20):
            started = time.perf_counter()
            job_id = await submit(session, stack.url, tool, TIME_ARGS)
            done = await finished.expect(job_id)
            if i >= 20:  # warm-up
                times.append(done - started)
                events = finished.events[job_id]
                created, started_at = (datetime.fromisoformat(events[k]) for k in ("created", "started"))
                dispatch.append((started_at - created).total_seconds())
        listener.cancel()
    return summary(times), summary(dispatch)


# --- 3. throughput --------------------------------------------------------------------------------
async def _noop(ctx: dict[str, Any]) -> None:
    return None


async def raw_arq_throughput(redis_url: str, n: int, cpu: Callable[[], dict[str, float]] | None = None) -> float:
    """No-op jobs enqueued first, then drained by one arq worker (timed). With ``cpu`` (CPU seconds by
    process role), prints what the worker and Redis spent per job while draining."""
    queue = f"bench:tp:{random.random()}"
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    for i in range(n):
        await redis.enqueue_job("_noop", _job_id=f"{queue}:{i}", _queue_name=queue)
    worker = Worker(functions=[_noop], queue_name=queue, redis_settings=RedisSettings.from_dsn(redis_url),
                    burst=True, poll_delay=0.0, max_jobs=16, handle_signals=False, keep_result=0)  # fmt: skip
    before = cpu() if cpu else {}
    started, worker_cpu = time.perf_counter(), time.process_time()
    await worker.main()
    elapsed, worker_cpu = time.perf_counter() - started, time.process_time() - worker_cpu
    after = cpu() if cpu else {}
    await worker.close()
    await redis.aclose()
    if cpu:
        redis_ms = (after.get("redis", 0.0) - before.get("redis", 0.0)) / n * 1000
        worker_ms = worker_cpu / n * 1000
        print(f"   raw arq no-op jobs              {n / elapsed:.0f} jobs/s; CPU per job {worker_ms:.2f} ms in the "
              f"worker, {redis_ms:.2f} ms in Redis")  # fmt: skip
    return n / elapsed


async def sdk_alone_throughput(n: int, concurrency: int) -> tuple[float, float, float]:
    """The MCP SDK's own share: ``demo.echo`` called straight on a warm stdio session, ``concurrency`` calls at
    a time. Returns calls/s and the CPU ms per call of the client (this process) and of the server."""
    import psutil

    params = StdioServerParameters(command=sys.executable, args=["-m", DEMO])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        me = psutil.Process()
        server = me.children(recursive=True)
        for _ in range(20):
            await session.call_tool("echo", {"text": "x"})
        remaining = [n]

        async def caller() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await session.call_tool("echo", {"text": "x"})

        def cpu() -> tuple[float, float]:
            return sum(me.cpu_times()[:2]), sum(sum(p.cpu_times()[:2]) for p in server)

        (client_before, server_before), started = cpu(), time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed, (client_after, server_after) = time.perf_counter() - started, cpu()
    return n / elapsed, (client_after - client_before) / n * 1000, (server_after - server_before) / n * 1000


async def hub_throughput(stack: Stack, n: int, concurrency: int) -> float:
    finished = Finished()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.token}"}) as session:
        listener = asyncio.create_task(finished.listen(session, stack.url))
        await asyncio.sleep(0.2)
        remaining = list(range(n))
        waits: list[asyncio.Future[float]] = []

        async def submitter() -> None:
            while remaining:
                remaining.pop()
                waits.append(finished.expect(await submit(session, stack.url, "demo.echo", {"text": "x"})))

        started = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(concurrency)))
        last = max(await asyncio.gather(*waits))
        listener.cancel()
    return n / (last - started)


async def main(quick: bool) -> None:
    stack = Stack(new_workdir())
    await stack.start_stores()
    SETTINGS.append(RedisSettings.from_dsn(stack.redis_url))
    results: dict[str, Any] = {}
    try:
        print("1. enqueue → task starts (idle queue)", flush=True)
        url, few, many = stack.redis_url, 20 if quick else 40, 100 if quick else 300
        results["arq_poll_500ms"] = await dispatch_latency(url, raw_arq(0.5), few, wake=False, poll_s=0.5)
        results["arq_poll_10ms"] = await dispatch_latency(url, raw_arq(0.01), many, wake=False, poll_s=0.01)
        results["wakeable"] = await dispatch_latency(url, wakeable, many, wake=True, poll_s=0.01)
        for name in ("arq_poll_500ms", "arq_poll_10ms", "wakeable"):
            print(f"   {name:16} {results[name]}", flush=True)

        await stack.start_hub()
        config = f"max_concurrency = 16\n{server_toml('time', 'mcp_server_time')}{server_toml('demo', DEMO)}"
        await stack.start_agent("bench-agent", config)
        # The same server under another name on an agent that waits for the start gate before every call.
        await stack.start_agent("bench-gated", f"eager_read_only = false\n{server_toml('clock', 'mcp_server_time')}")
        calls = 200 if quick else 1000
        print(f"2. MCP call overhead, {calls} sequential calls of mcp-server-time get_current_time", flush=True)
        direct = await direct_sdk_calls(calls)
        hub_path, _ = await through_hub(stack, calls, "time.get_current_time")
        gated, gated_dispatch = await through_hub(stack, calls, "clock.get_current_time")
        gap_s = max(0.0, hub_path["p50_ms"] - direct["p50_ms"]) / 1000
        paced = await direct_sdk_calls(calls // 2, gap_s)
        spawn = await process_per_call(3 if quick else 5)
        print(f"   direct SDK, warm session        {direct}")
        print(f"   hub + agent, job submit→result  {hub_path}")
        print(f"   added by hub + agent (p50)      {round(hub_path['p50_ms'] - direct['p50_ms'], 2)} ms")
        print(
            f"   direct SDK, {gap_s * 1000:.1f} ms between calls {paced} (the server idles between calls through "
            f"the hub: +{round(hub_path['p50_ms'] - paced['p50_ms'], 2)} ms added against this pace)"
        )
        print(
            f"   same, call waits for start gate {gated} (eager_read_only = false: +"
            f"{round(gated['p50_ms'] - direct['p50_ms'], 2)} ms)"
        )
        print(
            f"   job created → run started       {gated_dispatch} (on the gated agent; a quick read-only call's "
            "start is recorded with its result)"
        )
        print(f"   new server process per call     {spawn}", flush=True)

        jobs = 500 if quick else 2000
        print(f"3. throughput, {jobs} jobs, concurrency 16", flush=True)
        raw = await raw_arq_throughput(stack.redis_url, jobs, lambda: cpu_by_role(stack))
        before = cpu_by_role(stack)
        ours = await hub_throughput(stack, jobs, 16)
        after = cpu_by_role(stack)
        print(f"   demo.echo through hub + agent   {ours:.0f} jobs/s ({ours / raw:.0%} of raw arq)")
        used = {role: (after[role] - before.get(role, 0.0)) / jobs * 1000 for role in after}
        split = ", ".join(f"{role} {ms:.2f}" for role, ms in sorted(used.items(), key=lambda kv: -kv[1]) if ms >= 0.01)
        print(f"   CPU per job, ms                 {sum(used.values()):.2f} ({split}) on {os.cpu_count()} cores")
        rate, client_ms, server_ms = await sdk_alone_throughput(jobs, 16)
        print(f"   MCP SDK alone, demo.echo        {rate:.0f} calls/s, CPU per call {client_ms + server_ms:.2f} ms "
              f"(client {client_ms:.2f}, server {server_ms:.2f}): the MCP share of a job, at best")  # fmt: skip
    finally:
        await stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    asyncio.run(main(parser.parse_args().quick))
