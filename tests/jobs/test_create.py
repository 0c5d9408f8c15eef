"""Creating a job routes it in the same statement: the least loaded online agent with the tool, or none."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from hub.db.models import Job, JobEvent, Origin, OutboxMessage, Worker, WorkerStatus
from hub.keys import JOBS
from hub.services import admin
from jobs.lifecycle import NewJob, run_job_id
from jobs.queue import agent_queue

Client = TestClient[Any, Any]
TOOLS = {"tools": [{"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object"}}]}


async def _create(hub_client: Client, token: str) -> Job:
    response = await hub_client.post("/api/v1/jobs", json={"tool": "demo.echo", "arguments": {}},
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status == 201, await response.text()
    return await Job.get(id=(await response.json())["id"])


async def _register(hub_client: Client, name: str) -> str:
    key = (await admin.add_worker(name, {})).key
    response = await hub_client.post("/api/v1/agent/register", json=TOOLS, headers={"Authorization": f"Bearer {key}"})
    assert response.status == 200
    return str((await response.json())["worker_id"])


async def _run_rows(job: Job) -> list[OutboxMessage]:
    return await OutboxMessage.filter(dedupe_key=run_job_id(job.id, job.attempt))


async def test_a_job_no_online_agent_can_take_waits_created_with_no_run_enqueued(hub_client: Client) -> None:
    token = (await admin.add_token("tests", ["jobs"])).key
    worker_id = await _register(hub_client, "garage-1")
    await Worker.filter(id=worker_id).update(status=WorkerStatus.OFFLINE)
    job = await _create(hub_client, token)
    assert (job.status.value, job.worker_id, job.queued_at, job.next_seq) == ("created", None, None, 2)  # type: ignore[attr-defined]
    assert [e.kind.value for e in await JobEvent.filter(job_id=job.id).order_by("seq")] == ["created"]
    assert await _run_rows(job) == []


async def test_a_job_goes_to_the_least_loaded_online_agent_in_one_write(hub_client: Client) -> None:
    token = (await admin.add_token("tests", ["jobs"])).key
    first, second = sorted([await _register(hub_client, "garage-1"), await _register(hub_client, "garage-2")])
    jobs = [await _create(hub_client, token) for _ in range(3)]
    assert [str(job.worker_id) for job in jobs] == [first, second, first], "ties go to the lowest id"  # type: ignore[attr-defined]
    job = jobs[1]
    events = await JobEvent.filter(job_id=job.id).order_by("seq")
    name = (await Worker.get(id=second)).name
    assert [(e.seq, e.kind.value, e.data) for e in events] == [
        (1, "created", {"tool": "demo.echo", "origin": "api"}), (2, "queued", {"worker": name, "defer_s": 0.0}),
    ]  # fmt: skip
    assert (job.status.value, job.next_seq, job.queued_at) == ("queued", 3, job.created_at)
    [run] = await _run_rows(job)
    assert (run.task, run.queue) == ("run_tool", agent_queue(second))
    assert run.payload == {"job_id": str(job.id), "attempt": 0, "tool": "demo.echo", "arguments": {}}


async def test_jobs_submitted_together_are_written_together_each_answered_with_its_own(hub_client: Client) -> None:
    token = (await admin.add_token("tests", ["jobs"])).key
    first, second = sorted([await _register(hub_client, "garage-1"), await _register(hub_client, "garage-2")])
    statements: list[int] = []
    services = hub_client.app[JOBS]
    create_many = services._create_many

    async def counted(news: list[Any]) -> list[Job]:
        statements.append(len(news))
        created: list[Job] = await create_many(news)
        return created

    services._creator.write_many = counted
    jobs = await asyncio.gather(*(_create(hub_client, token) for _ in range(12)))
    assert len({job.id for job in jobs}) == 12, "each caller gets its own job"
    assert sum(statements) == 12 and max(statements) > 1, f"concurrent submits share writes: {statements}"
    assert {str(job.worker_id) for job in jobs} == {first, second}  # type: ignore[attr-defined]
    for job in jobs:
        assert (job.status.value, job.next_seq) == ("queued", 3)
        events = await JobEvent.filter(job_id=job.id).order_by("seq")
        assert [e.kind.value for e in events] == ["created", "queued"]
        [run] = await _run_rows(job)
        assert run.queue == agent_queue(str(job.worker_id))  # type: ignore[attr-defined]


async def test_a_batch_spreads_its_jobs_counting_those_routed_before_it(hub_client: Client) -> None:
    token = (await admin.add_token("tests", ["jobs"])).key
    first, second = sorted([await _register(hub_client, "garage-1"), await _register(hub_client, "garage-2")])
    await _create(hub_client, token)  # garage-1 (lowest id) has one job already
    tenant_id = (await Job.first()).tenant_id  # type: ignore[union-attr]
    news = [NewJob(tenant_id=tenant_id, origin=Origin.API, tool="demo.echo", arguments={}, requester="api:t")] * 7
    jobs = await hub_client.app[JOBS]._create_many(news)
    routed = [str(job.worker_id) for job in jobs]
    assert routed == [second, first, second, first, second, first, second], "least loaded first, ties by id"
    assert [len(await _run_rows(job)) for job in jobs] == [1] * 7
