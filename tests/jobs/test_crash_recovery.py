"""After an agent dies, no job is left behind and no unsafe call runs twice.

The tools here (tests/fixtures/counting_server.py) write every call to a ledger that outlives the agent
and its server (both are SIGKILLed), so the tests know how often each job's tool really ran."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hub.db.models import Worker
from tests.fixtures.counting_server import read_ledger
from tests.harness import FAST_ENV, TERMINAL, Process, Swarm

pytestmark = pytest.mark.timeout(180)
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "counting_server.py"
WINDOW_S = float(FAST_ENV["GARAGESWARM_REQUEUE_AFTER_S"]) + float(FAST_ENV["GARAGESWARM_HEARTBEAT_TIMEOUT_S"])
NOT_REPEATED = "not retried because the tool may not be safe to repeat"


def counting_config(ledger: Path, *, concurrency: int = 16, server: str = "") -> str:
    return (
        f'max_concurrency = {concurrency}\n[servers.count]\ncommand = "{sys.executable}"\nargs = ["{FIXTURE}"]\n'
        f'env = {{ COUNTING_LEDGER = "{ledger}" }}\n{server}'
    )


async def _submit_many(swarm: Swarm, count: int, seconds: float) -> dict[str, tuple[str, str]]:
    """(tool, ledger key) by job id: every other job calls the tool that is safe to repeat."""
    jobs = {}
    for n in range(count):
        tool, key = ("count.count" if n % 2 == 0 else "count.count_idempotent"), f"k{n}"
        jobs[await swarm.submit(tool, key=key, seconds=seconds)] = (tool, key)
    return jobs


async def _all_final(swarm: Swarm, ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        _, body = await swarm.api("GET", "/api/v1/jobs?limit=200")
        jobs = {job["id"]: job for job in body["jobs"]}
        while body["next"]:
            _, body = await swarm.api("GET", f"/api/v1/jobs?limit=200&before={body['next']}")
            jobs.update({job["id"]: job for job in body["jobs"]})
        waiting = [job for job_id, job in jobs.items() if job_id in ids and job["status"] not in TERMINAL]
        if not waiting or time.monotonic() > deadline:
            history = (await swarm.job(waiting[0]["id"]))["events"] if waiting else None
            assert not waiting, f"{len(waiting)} jobs stuck, e.g. {waiting[0]} with events {history}"
            return [jobs[job_id] for job_id in ids]
        await asyncio.sleep(0.5)


async def _moved_after(swarm: Swarm, job_id: str, killed_at: float) -> float | None:
    """Seconds from the kill to the first transition of the job after it (None: nothing happened after it)."""
    job = await swarm.job(job_id)
    after = [datetime.fromisoformat(e["at"]).timestamp() for e in job["events"]]
    later = [moment for moment in after if moment > killed_at]
    return min(later) - killed_at if later else None


def _kill_group(process: Process) -> float:
    """SIGKILL the agent and its MCP server; the wall-clock moment it happened."""
    process.kill()
    return time.time()


def _check_outcomes(jobs: list[dict[str, Any]], keys: dict[str, tuple[str, str]], ledger: Path) -> Counter[str]:
    ran = Counter(line["key"] for line in read_ledger(ledger))
    seen: Counter[str] = Counter()
    for job in jobs:
        tool, key = keys[job["id"]]
        seen[job["status"]] += 1
        if job["status"] == "succeeded":
            assert ran[key] >= 1, f"{key} succeeded without its tool running"
        if tool == "count.count":
            assert ran[key] <= 1, f"{key}: a tool that is not safe to repeat ran {ran[key]} times"
        if job["status"] != "succeeded":  # its start was granted: it may or may not have reached the tool
            assert tool == "count.count" and NOT_REPEATED in job["error"], job
    return seen


async def _chaos(swarm: Swarm, ledger: Path, *, restart: bool) -> None:
    agent = await swarm.add_agent("garage-1", counting_config(ledger))
    await swarm.wait_tools()
    if not restart:
        await swarm.add_agent("garage-2", counting_config(ledger))
        await swarm.wait_tools(count=2)
    keys = await _submit_many(swarm, 300, seconds=0.3)
    while len(read_ledger(ledger)) < 40:  # mid-batch: calls running, more claimed, most still queued
        await asyncio.sleep(0.05)
    killed_at = _kill_group(agent)
    if restart:
        agent.start()  # the same key and configuration
    jobs = await _all_final(swarm, list(keys), timeout_s=WINDOW_S + 300 * 0.3 / 16 + 60)
    seen = _check_outcomes(jobs, keys, ledger)
    assert seen["succeeded"] + seen["failed"] == 300, seen
    held = [job["id"] for job in jobs if job["attempt"] > 0 or job["status"] == "failed"]
    assert held, "the kill hit no job: the test proves nothing"
    moves = [await _moved_after(swarm, job_id, killed_at) for job_id in held]
    slowest = max(move for move in moves if move is not None)
    assert slowest <= WINDOW_S + 5, f"a job of the dead agent moved on only {slowest:.1f} s after the kill"


async def test_300_jobs_all_end_when_their_agent_is_killed_and_restarted(swarm: Swarm, tmp_path: Path) -> None:
    await _chaos(swarm, tmp_path / "ledger.jsonl", restart=True)


async def test_300_jobs_all_end_when_their_agent_is_killed_and_another_takes_over(swarm: Swarm, tmp_path: Path) -> None:
    await _chaos(swarm, tmp_path / "ledger.jsonl", restart=False)


async def _running_call(swarm: Swarm, ledger: Path, tool: str, config: str = "") -> tuple[Process, str]:
    agent = await swarm.add_agent("garage-1", config or counting_config(ledger))
    await swarm.wait_tools()
    job_id = await swarm.submit(tool, key="once", seconds=30)
    await swarm.wait_job(job_id, statuses={"running"})
    while not read_ledger(ledger):
        await asyncio.sleep(0.05)
    return agent, job_id


async def _ledger_of(ledger: Path, count: int, timeout_s: float) -> list[dict[str, Any]]:
    """The ledger once it holds ``count`` calls (the test fails when it does not in time)."""
    deadline = time.monotonic() + timeout_s
    while len(calls := read_ledger(ledger)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(calls) == count, [(c["pid"], c["meta"]) for c in calls]
    return calls


async def test_a_call_lost_with_its_agent_is_not_repeated_when_the_tool_may_not_be_safe_to_repeat(
    swarm: Swarm, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    agent, job_id = await _running_call(swarm, ledger, "count.count")
    agent.kill()
    agent.start()
    job = await swarm.wait_job(job_id, timeout_s=60)
    assert job["status"] == "failed" and job["attempt"] == 0, job
    assert job["error"] == (
        f"agent restarted while the tool was running; {NOT_REPEATED} "
        f"(check what it did, then retry it by hand: /swarm retry {job_id[:8]})"
    ) or job["error"].startswith("agent lost while the tool was running; " + NOT_REPEATED), job["error"]
    await asyncio.sleep(1.0)
    assert len(read_ledger(ledger)) == 1, "the call must not run again by itself"
    status, answer = await swarm.api("POST", "/api/v1/console/commands", json={"text": f"/swarm retry {job_id[:8]}"})
    assert status == 200 and answer["ok"] and answer["reply"].startswith(f"Retrying job {job_id[:8]} (count.count)")
    calls = await _ledger_of(ledger, 2, timeout_s=30)
    await swarm.api("POST", f"/api/v1/jobs/{job_id}/cancel")  # it sleeps 30 s: stop it once it ran again
    assert [call["meta"]["io.garageswarm/attempt"] for call in calls] == [0, 1], "run again by hand, once"


async def test_a_call_lost_with_its_agent_runs_again_when_the_tool_is_idempotent(swarm: Swarm, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    agent, job_id = await _running_call(swarm, ledger, "count.count_idempotent")
    agent.kill()
    agent.start()
    calls = await _ledger_of(ledger, 2, timeout_s=60)
    keys = {call["meta"]["io.garageswarm/idempotency-key"] for call in calls}
    assert keys == {job_id}, "every attempt of a job carries the same idempotency key"
    assert [call["meta"]["io.garageswarm/attempt"] for call in calls] == [0, 1]


async def test_a_server_crash_mid_call_follows_the_same_rule_and_the_operator_may_override_it(
    swarm: Swarm, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    agent, job_id = await _running_call(swarm, ledger, "count.count")
    os.kill(read_ledger(ledger)[0]["pid"], signal.SIGKILL)  # the MCP server dies, the agent lives
    job = await swarm.wait_job(job_id, timeout_s=30)
    assert job["status"] == "failed" and NOT_REPEATED in job["error"], job
    assert "connection to the server was lost" in job["error"]
    before = (await Worker.get(name="garage-1")).session_id
    agent.stop()  # the operator vouches for the tool, and restarts the agent
    (swarm.workdir / "garage-1.toml").write_text(counting_config(ledger, server="safe_to_repeat = { count = true }\n"))
    agent.start()
    while (await Worker.get(name="garage-1")).session_id == before:  # the new process registered
        await asyncio.sleep(0.05)
    status, _ = await swarm.api("POST", f"/api/v1/jobs/{job_id}/retry")
    assert status == 200
    os.kill((await _ledger_of(ledger, 2, timeout_s=30))[-1]["pid"], signal.SIGKILL)
    await _ledger_of(ledger, 3, timeout_s=30)  # the operator said the tool is safe to repeat: it runs again
    job = await swarm.job(job_id)
    assert any(
        e["kind"] == "retried" and "connection to the server was lost" in e["data"]["reason"] for e in job["events"]
    ), job["events"]


async def test_a_second_process_with_the_same_key_is_refused_and_erases_nothing(swarm: Swarm, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    first = await swarm.add_agent("garage-1", counting_config(ledger))
    await swarm.wait_tools()
    config = swarm.workdir / "copy.toml"
    config.write_text('[servers.other]\ncommand = "true"\n')
    second = swarm.spawn(
        "agent-copy", "agent", "--config", str(config), GARAGESWARM_API_KEY=first.env["GARAGESWARM_API_KEY"]
    )
    assert second.popen is not None
    assert await asyncio.to_thread(second.popen.wait, 60) == 1
    said = second.logs().strip().splitlines()[-1]
    assert said.startswith("garageswarm agent: agent 'garage-1' is already running on "), said
    assert f"(pid {first.popen.pid if first.popen else ''})" in said and "one key is one agent" in said
    _, body = await swarm.api("GET", "/api/v1/workers")
    [worker] = body["workers"]
    assert worker["status"] == "online" and [t["name"] for t in worker["tools"]] == [
        "count.count",
        "count.count_idempotent",
    ]
    job = await swarm.wait_job(await swarm.submit("count.count", key="still-works"))
    assert job["status"] == "succeeded" and job["worker"] == "garage-1"


async def test_an_agent_stopped_mid_call_reports_it_and_the_rule_is_the_same(swarm: Swarm, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    agent, job_id = await _running_call(swarm, ledger, "count.count")
    agent.stop()  # SIGTERM: the call is cancelled and reported, its outcome unknown
    job = await swarm.wait_job(job_id, timeout_s=30)
    assert job["status"] == "failed" and job["error"].startswith(
        f"agent stopped while the tool was running; {NOT_REPEATED}"
    ), job["error"]
    assert len(read_ledger(ledger)) == 1
