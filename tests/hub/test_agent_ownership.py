"""An agent may only report on runs it was given: every route that touches a run refuses any other agent
(of the same tenant or another) as if the job did not exist, changes nothing and posts nothing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from hub.db.models import Artifact, Job, JobEvent, Worker
from hub.keys import JOBS
from hub.services import admin

Client = TestClient[Any, Any]
TOOLS = {"tools": [{"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object",
         "properties": {"text": {"type": "string"}}}}]}  # fmt: skip
SLACK_THREAD = {"platform": "slack", "team_id": "T1", "channel_id": "C1", "thread_ts": "1.2"}
TEXT = [{"type": "text", "text": "forged"}]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _snapshot(job_id: str) -> tuple[Any, ...]:
    job = await Job.get(id=job_id)
    events = [(e.seq, e.kind.value, e.data) for e in await JobEvent.filter(job_id=job_id).order_by("seq")]
    return (
        job.status,
        job.attempt,
        job.next_seq,
        job.result,
        job.error,
        events,
        await Artifact.filter(job_id=job_id).count(),
    )


async def _notifications(redis_url: str, job_id: str) -> list[bytes]:
    client = Redis.from_url(redis_url)
    try:
        return [key async for key in client.scan_iter(f"arq:job:notify:{job_id}*")]
    finally:
        await client.aclose()


Report = Callable[[Client, str, dict[str, str]], Awaitable[tuple[int, Any]]]


async def _post(client: Client, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def _start(client: Client, job_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    return await _post(client, f"/api/v1/agent/jobs/{job_id}/start", headers, {"attempt": 0})


async def _events(client: Client, job_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    body = {"attempt": 0, "events": [{"kind": "progress", "data": {"progress": 1, "total": 2}}]}
    return await _post(client, f"/api/v1/agent/jobs/{job_id}/events", headers, body)


async def _result(client: Client, job_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    body = {"attempt": 0, "outcome": "succeeded", "outputs": TEXT}
    return await _post(client, f"/api/v1/agent/jobs/{job_id}/result", headers, body)


async def _failure(client: Client, job_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    body = {"attempt": 0, "outcome": "failed", "error": "forged", "retryable": True}
    return await _post(client, f"/api/v1/agent/jobs/{job_id}/result", headers, body)


async def _artifact(client: Client, job_id: str, headers: dict[str, str]) -> tuple[int, Any]:
    response = await client.put(f"/api/v1/agent/jobs/{job_id}/artifacts?attempt=0&name=forged.png", data=b"png",
                                headers={**headers, "Content-Type": "image/png"})  # fmt: skip
    return response.status, await response.json()


def _batch(kind: str, item: dict[str, Any]) -> Report:
    async def report(client: Client, job_id: str, headers: dict[str, str]) -> tuple[int, Any]:
        status, answer = await _post(client, "/api/v1/agent/reports", headers, {kind: [{"job_id": job_id, **item}]})
        if status != 200:
            return status, answer
        return status, {k: v for k, v in answer[kind][0].items() if k != "job_id"}

    return report


ROUTES: dict[str, Report] = {
    "start": _start,
    "events": _events,
    "result": _result,
    "failure": _failure,
    "artifact": _artifact,
    "batch start": _batch("starts", {"attempt": 0}),
    "batch events": _batch("events", {"attempt": 0, "events": [{"kind": "log", "data": {"message": "x"}}]}),
    "batch result": _batch("results", {"attempt": 0, "outcome": "succeeded", "outputs": TEXT}),
    "batch result with its start": _batch(
        "results", {"attempt": 0, "outcome": "succeeded", "outputs": TEXT, "start": True}
    ),
}


@pytest.fixture
async def owned_job(hub_client: Client, agent_keys: dict[str, str]) -> str:
    """A job queued on garage-1 (the tenant's only agent with the tool), reporting to a Slack thread."""
    assert (
        await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=_bearer(agent_keys["worker"]))
    ).status == 200
    created = await hub_client.post("/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": "hi"}},
                                    headers=_bearer(agent_keys["token"]))  # fmt: skip
    job_id: str = (await created.json())["id"]
    await Job.filter(id=job_id).update(thread_ref=SLACK_THREAD)
    assert (await Job.get(id=job_id)).worker_id == (await Worker.get(name="garage-1")).id  # type: ignore[attr-defined]
    return job_id


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("stranger_tenant", [None, "other"], ids=["same tenant", "other tenant"])
async def test_another_agent_s_report_on_a_run_is_refused_as_if_the_job_did_not_exist(
    hub_client: Client, owned_job: str, redis_url: str, route: str, stranger_tenant: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    report = ROUTES[route]
    stranger = await admin.add_worker("garage-2", {}, **({"tenant_slug": stranger_tenant} if stranger_tenant else {}))
    headers = _bearer(stranger.key)
    if stranger_tenant is None:  # a live agent of the same tenant, with the same tool
        assert (await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=headers)).status == 200
    nowhere = await report(hub_client, "5f0c6a52-3a3e-4c3b-9a57-4b1d0a1e9c11", headers)
    before = await _snapshot(owned_job)
    with caplog.at_level(logging.WARNING, logger="hub.routes.agent_api"):
        forged = await report(hub_client, owned_job, headers)
    await hub_client.app[JOBS].effects.drain()
    assert forged == nowhere, "the same answer as for a job that does not exist"
    assert await _snapshot(owned_job) == before, "the job is untouched"
    assert await _notifications(redis_url, owned_job) == [], "nothing is posted to its thread"
    refusals = [r for r in caplog.records if "not assigned to this agent" in r.getMessage()]
    assert refusals and refusals[0].__dict__["agent"] == str((await Worker.get(name="garage-2")).id)
    owner = await Worker.get(name="garage-1")
    assert refusals[0].__dict__["assigned_agent"] == str(owner.id) and refusals[0].__dict__["job_id"] == owned_job


@pytest.mark.parametrize("route", ["start", "events", "batch events", "batch result with its start", "artifact"])
async def test_the_agent_the_run_was_given_to_is_heard(
    hub_client: Client, agent_keys: dict[str, str], owned_job: str, redis_url: str, route: str
) -> None:
    """The control of the test above: the same report from the run's own agent changes the job."""
    before = await _snapshot(owned_job)
    status, answer = await ROUTES[route](hub_client, owned_job, _bearer(agent_keys["worker"]))
    await hub_client.app[JOBS].effects.drain()
    assert status == 200 and "error" not in {k for k, v in answer.items() if v}, answer
    assert await _snapshot(owned_job) != before
    assert await _notifications(redis_url, owned_job) != []


async def test_a_run_moved_to_another_agent_no_longer_hears_its_first_agent(
    hub_client: Client, agent_keys: dict[str, str], owned_job: str
) -> None:
    """After the job was re-routed, a late report of the agent it left is refused like a stranger's."""
    newcomer = await admin.add_worker("garage-2", {})
    await Job.filter(id=owned_job).update(worker_id=(await Worker.get(name="garage-2")).id)
    before = await _snapshot(owned_job)
    status, _ = await _result(hub_client, owned_job, _bearer(agent_keys["worker"]))
    assert status == 404 and await _snapshot(owned_job) == before
    status, answer = await _start(hub_client, owned_job, _bearer(newcomer.key))
    assert (status, answer) == (200, {"run": True, "reason": "started"})
