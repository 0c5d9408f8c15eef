"""Chaos: an agent SIGKILLed with hundreds of jobs in flight. Counts what became of every job.

    .venv/bin/python -m bench.chaos [--jobs 300] [--quick]

Two scenarios, each on a fresh stack (hub, hub worker, agents as real processes; DATABASE_URL /
REDIS_URL when set, else embedded stores):

* ``restart``: one agent takes the jobs, is SIGKILLed mid-batch (with its MCP server) and started again;
* ``failover``: the same, but the agent never comes back and a second agent with the same tools is online.

Half the jobs call a tool with no annotations (``count``: not safe to repeat), half one marked
``idempotentHint`` (``count_idempotent``). The tools append to a ledger file that outlives the kill, so
the benchmark knows how often each job's tool really ran. Printed per scenario:

* ``stuck``: jobs not in a final state at the deadline (``GARAGESWARM_REQUEUE_AFTER_S`` plus one heart-beat
  timeout after the kill, plus the time the remaining work needs);
* ``lost``: jobs that succeeded without their tool having run;
* ``doubled``: jobs of the unsafe tool whose tool ran more than once;
* how the others ended (succeeded, failed with the reason, repeated idempotent calls)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.stack import Stack, new_workdir

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "counting_server.py"
CHAOS_ENV = {"GARAGESWARM_HEARTBEAT_INTERVAL_S": "0.5", "GARAGESWARM_HEARTBEAT_TIMEOUT_S": "3",
             "GARAGESWARM_REQUEUE_AFTER_S": "2"}  # fmt: skip
WINDOW_S = float(CHAOS_ENV["GARAGESWARM_REQUEUE_AFTER_S"]) + float(CHAOS_ENV["GARAGESWARM_HEARTBEAT_TIMEOUT_S"])
CALL_S = 1.0
CONCURRENCY = 16
KILL_AFTER_S = 3.0
FINAL = {"succeeded", "failed", "cancelled", "timed_out"}


def agent_toml(ledger: Path, concurrency: int) -> str:
    return (
        f'max_concurrency = {concurrency}\n[servers.count]\ncommand = "{sys.executable}"\n'
        f'args = ["{FIXTURE}"]\nenv = {{ COUNTING_LEDGER = "{ledger}" }}\n'
    )


def ledger_counts(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip())


async def _jobs(stack: Stack, session: aiohttp.ClientSession, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for job_id in ids:
        async with session.get(f"{stack.url}/api/v1/jobs/{job_id}") as response:
            found[job_id] = await response.json()
    return found


async def _submit(stack: Stack, session: aiohttp.ClientSession, name: str, jobs: int) -> dict[str, tuple[str, str]]:
    """Submit the jobs, half of each tool; (tool, ledger key) by job id."""
    keys = {}
    for n in range(jobs):
        tool, key = ("count.count" if n % 2 == 0 else "count.count_idempotent"), f"{name}-{n}"
        body = {"tool": tool, "arguments": {"key": key, "seconds": CALL_S}}
        async with session.post(f"{stack.url}/api/v1/jobs", json=body) as response:
            created = await response.json()
            assert response.status == 201, created
        keys[created["id"]] = (tool, key)
    return keys


async def _wait_final(stack: Stack, session: aiohttp.ClientSession, ids: list[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if all(job["status"] in FINAL for job in (await _jobs(stack, session, ids)).values()):
            return
        await asyncio.sleep(0.5)


async def scenario(name: str, jobs: int, *, restart: bool) -> dict[str, Any]:
    stack = Stack(new_workdir(), extra_env=dict(CHAOS_ENV))
    await stack.start_stores()
    ledger = stack.workdir / "ledger.jsonl"
    try:
        await stack.start_hub()
        key = await stack.start_agent("garage-1", agent_toml(ledger, CONCURRENCY))
        victim = stack.processes[-1]
        if not restart:
            await stack.start_agent("garage-2", agent_toml(ledger, CONCURRENCY))
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.token}"}) as session:
            keys = await _submit(stack, session, name, jobs)
            await asyncio.sleep(KILL_AFTER_S)  # mid-batch
            os.killpg(victim.pid, signal.SIGKILL)  # the agent and its MCP server
            victim.wait()
            killed_at = time.monotonic()
            if restart:
                await stack.start_agent("garage-1", agent_toml(ledger, CONCURRENCY), key=key)
            await _wait_final(stack, session, list(keys), killed_at + WINDOW_S + jobs * CALL_S / CONCURRENCY + 30)
            states = await _jobs(stack, session, list(keys))
            settled_s = time.monotonic() - killed_at
    finally:
        await stack.stop()
    counts = ledger_counts(ledger)
    outcome: Counter[str] = Counter({"stuck": 0, "lost": 0, "doubled": 0})
    for job_id, job in states.items():
        tool, key = keys[job_id]
        ran = counts[key]
        if job["status"] not in FINAL:
            outcome["stuck"] += 1
        if job["status"] == "succeeded" and ran == 0:
            outcome["lost"] += 1
        if tool == "count.count" and ran > 1:
            outcome["doubled"] += 1
        if tool == "count.count_idempotent" and ran > 1:
            outcome["idempotent repeated"] += 1
        outcome[f"{job['status']}"] += 1
        if job["status"] == "failed":
            outcome[f"failed: {str(job['error']).split(' (')[0]}"] += 1  # without the job's own retry hint
    return {"scenario": name, "jobs": jobs, "settled_s": round(settled_s, 1), **dict(outcome)}


async def main(jobs: int) -> None:
    for name, restart in (("restart", True), ("failover", False)):
        print(json.dumps(await scenario(name, jobs, restart=restart)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="100 jobs")
    args = parser.parse_args()
    asyncio.run(main(100 if args.quick else args.jobs))
