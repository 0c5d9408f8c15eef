"""Nothing acknowledged is lost and nothing runs twice: agents and the hub killed, Redis emptied."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from tests.conftest import StartSwarm
from tests.harness import Swarm, demo_stdio_config

pytestmark = pytest.mark.timeout(120)


def _kinds(job: dict[str, object]) -> list[str]:
    return [str(e["kind"]) for e in job["events"]]  # type: ignore[attr-defined, index]


async def test_agent_sigkilled_mid_job_completes_exactly_once_after_restart(swarm: Swarm) -> None:
    agent = await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job_id = await swarm.submit("demo.sleep", seconds=1.5, report_progress=True)
    await swarm.wait_job(job_id, statuses={"running"})
    agent.kill()
    agent.start()  # same key and config: the agent comes back
    job = await swarm.wait_job(job_id, timeout_s=60)
    assert job["status"] == "succeeded", job
    assert _kinds(job).count("succeeded") == 1
    assert job["attempt"] == 1
    # Restarted before the heart-beat timeout, or after it (the reaper moved the job first, on a slow machine):
    reasons = {"agent restarted while the tool was running", "agent lost while the tool was running"}
    assert any(e["kind"] == "retried" and e["data"]["reason"] in reasons for e in job["events"]), job["events"]


async def test_a_lost_agent_s_job_is_requeued_to_another_agent(swarm: Swarm) -> None:
    first = await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job_id = await swarm.submit("demo.sleep", seconds=6, report_progress=True)
    await swarm.wait_job(job_id, statuses={"running"})
    first.kill()  # never comes back: the reaper notices the silence
    await swarm.add_agent("garage-2", demo_stdio_config())
    job = await swarm.wait_job(job_id, timeout_s=60)
    assert job["status"] == "succeeded", job
    assert job["worker"] == "garage-2"
    assert any(
        e["kind"] == "retried" and e["data"]["reason"] == "agent lost while the tool was running" for e in job["events"]
    )
    assert _kinds(job).count("succeeded") == 1


async def test_hub_killed_while_the_agent_reports_loses_nothing(start_swarm: StartSwarm) -> None:
    swarm = await start_swarm(GARAGESWARM_HEARTBEAT_TIMEOUT_S="60")
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job_id = await swarm.submit("demo.sleep", seconds=1.0)
    await swarm.wait_job(job_id, statuses={"running"})
    hub = next(p for p in swarm.processes if p.name == "hub")
    hub.kill()
    await asyncio.sleep(2.0)  # the call ends while the hub is down: its result goes to the spool
    spool = swarm.workdir / "data" / "agent-spool"
    assert any(entry.is_dir() for entry in spool.rglob("*-" + job_id + "-0")), "the result was not kept on disk"
    hub.start()
    await swarm.wait_healthy()
    job = await swarm.wait_job(job_id, timeout_s=60)
    assert job["status"] == "succeeded", job
    assert job["attempt"] == 0, "the spooled result of the first attempt must be the one recorded"
    assert _kinds(job).count("succeeded") == 1


async def test_queued_jobs_survive_redis_losing_its_queues(swarm: Swarm, redis_url: str) -> None:
    agent = await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    agent.stop()  # jobs now wait in the agent's queue in Redis
    job_ids = [await swarm.submit("demo.echo", text=f"job {n}") for n in range(5)]
    for job_id in job_ids:
        assert (await swarm.job(job_id))["status"] == "queued"
    client = Redis.from_url(redis_url)
    await client.flushdb()  # what a Redis restart without persistence does to the queues
    await client.aclose()
    agent.start()
    for job_id in job_ids:
        job = await swarm.wait_job(job_id, timeout_s=60)
        assert job["status"] == "succeeded", job
        assert _kinds(job).count("started") == 1 and _kinds(job).count("succeeded") == 1
