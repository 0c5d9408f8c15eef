"""A job whose tool only offline agents have waits (created, not queued), and goes to the first of them
that comes back: on its heart-beat or its registration."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from hub.db.models import Job, JobStatus, Worker, WorkerStatus
from jobs.queue import agent_queue

Client = TestClient[Any, Any]
TOOLS = {"tools": [{"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object",
         "properties": {"text": {"type": "string"}}, "required": ["text"]}}]}  # fmt: skip


async def _waiting_job(client: Client, keys: dict[str, str]) -> tuple[Worker, str]:
    agent = {"Authorization": f"Bearer {keys['worker']}"}
    assert (await client.post("/api/v1/agent/register", json=TOOLS, headers=agent)).status == 200
    worker = await Worker.get(name="garage-1")
    await Worker.filter(id=worker.id).update(status=WorkerStatus.OFFLINE)  # as the reaper marks a silent agent
    created = await client.post("/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": "hi"}},
                                headers={"Authorization": f"Bearer {keys['token']}"})  # fmt: skip
    assert created.status == 201
    job_id = str((await created.json())["id"])
    job = await Job.get(id=job_id)
    assert job.status is JobStatus.CREATED and job.worker_id is None  # type: ignore[attr-defined]
    return worker, job_id


async def _queued_on(redis_url: str, worker: Worker, job_id: str) -> bool:
    redis = Redis.from_url(redis_url)
    try:
        queued = [member.decode() for member in await redis.zrange(agent_queue(str(worker.id)), 0, -1)]
    finally:
        await redis.aclose()
    return any(job_id in member for member in queued)


@pytest.mark.parametrize("comes_back", ["heartbeat", "register"])
async def test_a_waiting_job_goes_to_the_agent_that_comes_back(
    hub_client: Client, agent_keys: dict[str, str], redis_url: str, comes_back: str
) -> None:
    worker, job_id = await _waiting_job(hub_client, agent_keys)
    assert not await _queued_on(redis_url, worker, job_id)

    agent = {"Authorization": f"Bearer {agent_keys['worker']}"}
    if comes_back == "heartbeat":
        answer = await hub_client.post("/api/v1/agent/heartbeat", json={"active_jobs": 0}, headers=agent)
    else:
        answer = await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=agent)
    assert answer.status == 200, await answer.text()

    job = await Job.get(id=job_id)
    assert job.status is JobStatus.QUEUED and job.worker_id == worker.id  # type: ignore[attr-defined]
    assert await _queued_on(redis_url, worker, job_id), "the run must be in the agent's arq queue"
    assert (await Worker.get(id=worker.id)).status is WorkerStatus.ONLINE
