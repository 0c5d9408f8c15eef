"""Slack ack path under load: signed /swarm commands at concurrency 50 while agents are busy.

    .venv/bin/python -m bench.slack_ack [--quick]

Prints ack p50/p99 and requests/s for the hub's /slack/events, and in the same run for a bare aiohttp
handler and a handler doing one raw asyncpg INSERT (each in its own process, like the hub)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.dispatch import DEMO, server_toml, submit
from bench.stack import Stack, free_port, new_workdir, summary

SECRET = "bench-signing-secret-0123456789abcdef"
CONCURRENCY = 50


def signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest,
            "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip


def command(n: int) -> bytes:
    fields = {"team_id": "T0BENCH0001", "channel_id": "C0BENCH0001", "user_id": "U0BENCH0001", "command": "/swarm",
              "text": "help", "trigger_id": f"{time.time_ns()}.{n}",
              "response_url": "https://hooks.slack.invalid/x"}  # fmt: skip
    return urlencode(fields).encode()


async def load(url: str, seconds: float) -> dict[str, Any]:
    """``CONCURRENCY`` clients posting signed commands for ``seconds``; latency of each answer."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(worker: int) -> None:
            nonlocal errors
            n = 0
            while time.monotonic() < deadline:
                body = command(worker * 1_000_000 + n)
                n += 1
                started = time.perf_counter()
                async with session.post(url, data=body, headers=signed(body)) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return {**summary(latencies), "req_per_s": round(len(latencies) / elapsed), "errors": errors}


async def baseline(mode: str, database_url: str, seconds: float) -> dict[str, Any]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.baseline_server", mode, "--port", str(port), "--database-url", database_url]
    process = subprocess.Popen(argv)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.post(f"http://127.0.0.1:{port}/warmup", data=b"x"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        return await load(f"http://127.0.0.1:{port}/slack/events", seconds)
    finally:
        process.terminate()
        process.wait()


async def keep_agents_busy(stack: Stack) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.token}"}) as session:
        for _ in range(16):
            await submit(session, stack.url, "demo.sleep", {"seconds": 600, "report_progress": True})


async def main(quick: bool) -> None:
    seconds = 5.0 if quick else 20.0
    stack = Stack(new_workdir())
    await stack.start_stores()
    try:
        stack.spawn("hub", SLACK_SIGNING_SECRET=SECRET)
        stack.spawn("worker", SLACK_SIGNING_SECRET=SECRET)
        await stack.wait_healthy()
        await stack.start_agent("busy-agent", "max_concurrency = 16\n" + server_toml("demo", DEMO))
        await keep_agents_busy(stack)
        print(f"signed slash commands, concurrency {CONCURRENCY}, {seconds:g} s each, 16 agent calls running")
        bare = await baseline("bare", stack.database_url, seconds)
        print(f"  bare aiohttp handler       {bare}", flush=True)
        insert = await baseline("insert", stack.database_url, seconds)
        print(f"  raw asyncpg INSERT handler {insert}", flush=True)
        hub = await load(stack.url + "/slack/events", seconds)
        print(f"  hub /slack/events (ack)    {hub}")
        print(f"  hub rate vs raw insert     {hub['req_per_s'] / insert['req_per_s']:.0%}")
    finally:
        await stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s per run instead of 20 s")
    asyncio.run(main(parser.parse_args().quick))
