"""A call whose outcome was lost runs again only when its tool is safe to repeat; a person may retry the
rest by hand (REST, chat, CLI), and a tool that needs approval asks for it again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.app import create_app
from hub.db.models import Job, JobEvent, JobStatus, Worker
from hub.keys import JOBS, REDIS, STORAGE
from hub.services.slack_installs import SlackWorkspaces
from hub.settings import Settings
from hub.sso.audit import Action
from jobs import sweeps
from jobs.context import WorkerContext
from jobs.repeats import RepeatPolicy

Client = TestClient[Any, Any]
NOT_REPEATED = "not retried because the tool may not be safe to repeat"


def _tool(name: str, **hints: Any) -> dict[str, Any]:
    return {"name": name, "description": name, "input_schema": {"type": "object"}, **hints}


TOOLS = {
    "tools": [
        _tool("git.push"), _tool("git.fetch", idempotent=True), _tool("git.status", read_only=True),
        _tool("git.gc", safe_to_repeat=True), _tool("git.tag", idempotent=True, safe_to_repeat=False),
    ]
}  # fmt: skip


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def client(hub_client: Client, agent_keys: dict[str, str]) -> Client:
    assert (
        await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=_bearer(agent_keys["worker"]))
    ).status == 200
    return hub_client


async def _started(client: Client, keys: dict[str, str], tool: str) -> str:
    created = await client.post("/api/v1/jobs", json={"tool": tool}, headers=_bearer(keys["token"]))
    job_id: str = (await created.json())["id"]
    started = await client.post(
        f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 0}, headers=_bearer(keys["worker"])
    )
    assert (await started.json())["run"] is True
    return job_id


async def _report_lost(client: Client, keys: dict[str, str], job_id: str, outcome: str = "failed") -> Any:
    body = {"attempt": 0, "outcome": outcome, "retryable": True, "outcome_unknown": True,
            "error": "git: the connection to the server was lost; restarting it"}  # fmt: skip
    answer = await client.post(f"/api/v1/agent/jobs/{job_id}/result", json=body, headers=_bearer(keys["worker"]))
    assert answer.status == 200
    return await Job.get(id=job_id)


@pytest.mark.parametrize(
    ("tool", "repeated"),
    [("git.push", False), ("git.fetch", True), ("git.status", True), ("git.gc", True), ("git.tag", False)],
)
async def test_a_call_the_agent_reports_lost_mid_call_is_retried_only_when_safe_to_repeat(
    client: Client, agent_keys: dict[str, str], tool: str, repeated: bool
) -> None:
    job = await _report_lost(client, agent_keys, await _started(client, agent_keys, tool))
    if repeated:
        assert (job.status, job.attempt) == (JobStatus.QUEUED, 1)
    else:
        assert (job.status, job.attempt) == (JobStatus.FAILED, 0)
        assert job.error == (f"git: the connection to the server was lost; restarting it; {NOT_REPEATED} "
                             f"(check what it did, then retry it by hand: /swarm retry {str(job.id)[:8]})")  # fmt: skip
        event = await JobEvent.get(job_id=job.id, kind="failed")
        assert event.data["retry_by_hand"] is True


async def test_a_known_failure_before_the_call_is_retried_whatever_the_tool(
    client: Client, agent_keys: dict[str, str]
) -> None:
    job_id = await _started(client, agent_keys, "git.push")
    body = {"attempt": 0, "outcome": "failed", "retryable": True, "error": "git: cannot connect"}
    await client.post(f"/api/v1/agent/jobs/{job_id}/result", json=body, headers=_bearer(agent_keys["worker"]))
    assert (await Job.get(id=job_id)).attempt == 1, "the call never reached the tool: nothing to fear"


async def test_a_lost_timeout_ends_timed_out_with_the_reason(client: Client, agent_keys: dict[str, str]) -> None:
    job = await _report_lost(client, agent_keys, await _started(client, agent_keys, "git.push"), outcome="timed_out")
    assert job.status is JobStatus.TIMED_OUT and NOT_REPEATED in (job.error or "")


async def test_the_hub_operator_may_vouch_for_a_tool(settings: Settings, orm: None, agent_keys: dict[str, str]) -> None:
    vouched = Settings.from_env({"GARAGESWARM_DATA_DIR": str(settings.data_dir), "GARAGESWARM_SAFE_TO_REPEAT": "git.*"})
    app = create_app(vouched.with_stores(settings.database_url or "", settings.redis_url or ""))
    async with TestClient(TestServer(app)) as client:
        await client.post("/api/v1/agent/register", json=TOOLS, headers=_bearer(agent_keys["worker"]))
        job = await _report_lost(client, agent_keys, await _started(client, agent_keys, "git.push"))
    assert job.attempt == 1


async def test_every_job_of_a_lost_agent_moves_on_however_many_it_held(
    client: Client, agent_keys: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arq.connections import RedisSettings, create_pool

    monkeypatch.setattr(sweeps, "SWEEP_BATCH", 3)  # 7 jobs: three batches
    ids = [await _started(client, agent_keys, "git.fetch") for _ in range(4)]
    for _ in range(3):
        created = await client.post("/api/v1/jobs", json={"tool": "git.fetch"}, headers=_bearer(agent_keys["token"]))
        ids.append((await created.json())["id"])
    worker = await Worker.get(name="garage-1")
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        moved = await sweeps.requeue_running(redis, worker, reason="agent lost", policy=RepeatPolicy())
    finally:
        await redis.aclose()
    assert moved == 7
    jobs = [await Job.get(id=job_id) for job_id in ids]
    assert all(job.attempt == 1 for job in jobs), [(job.status, job.attempt) for job in jobs]


async def test_a_failed_job_is_retried_by_hand_once_and_audited(client: Client, agent_keys: dict[str, str]) -> None:
    job = await _report_lost(client, agent_keys, await _started(client, agent_keys, "git.push"))
    retried = await client.post(f"/api/v1/jobs/{str(job.id)[:8]}/retry", headers=_bearer(agent_keys["token"]))
    assert retried.status == 200
    view = await retried.json()
    assert (view["status"], view["attempt"], view["error"], view["worker"]) == ("queued", 1, None, "garage-1")
    event = await JobEvent.filter(job_id=job.id, kind="retried").first()
    assert event is not None and event.data == {"reason": "retried by api:tests", "by": "api:tests", "delay_s": 0.0}
    from hub.db.auth_models import AuditEntry

    assert await AuditEntry.filter(action=Action.JOB_RETRIED.value, target=f"job:{job.id}").count() == 1
    again = await client.post(f"/api/v1/jobs/{job.id}/retry", headers=_bearer(agent_keys["token"]))
    assert again.status == 409
    assert (await again.json())["error"]["message"] == (
        "this job is queued: only a job that failed, timed out or was cancelled can be retried"
    )


async def test_a_job_that_succeeded_is_not_retried(client: Client, agent_keys: dict[str, str]) -> None:
    job_id = await _started(client, agent_keys, "git.push")
    done = {"attempt": 0, "outcome": "succeeded", "outputs": []}
    await client.post(f"/api/v1/agent/jobs/{job_id}/result", json=done, headers=_bearer(agent_keys["worker"]))
    refused = await client.post(f"/api/v1/jobs/{job_id}/retry", headers=_bearer(agent_keys["token"]))
    assert refused.status == 409 and (await Job.get(id=job_id)).attempt == 0


async def test_a_retry_of_a_tool_that_needs_approval_asks_again_and_the_old_timeout_is_void(
    settings: Settings, orm: None, agent_keys: dict[str, str]
) -> None:
    gated = Settings.from_env(
        {"GARAGESWARM_DATA_DIR": str(settings.data_dir), "GARAGESWARM_APPROVAL_TOOLS": "git.push"}
    )
    app = create_app(gated.with_stores(settings.database_url or "", settings.redis_url or ""))
    async with TestClient(TestServer(app)) as client:
        await client.post("/api/v1/agent/register", json=TOOLS, headers=_bearer(agent_keys["worker"]))
        created = await client.post("/api/v1/jobs", json={"tool": "git.push"}, headers=_bearer(agent_keys["token"]))
        job_id = (await created.json())["id"]
        denied = await client.post(f"/api/v1/jobs/{job_id}/deny", headers=_bearer(agent_keys["token"]))
        assert (await denied.json())["status"] == "cancelled"
        retried = await client.post(f"/api/v1/jobs/{job_id}/retry", headers=_bearer(agent_keys["token"]))
        view = await retried.json()
        assert view["status"] == "awaiting_approval", "a denial is not bypassed by a retry"
        from jobs.tasks.approvals import approval_timeout

        context = WorkerContext(settings=gated, redis=app[REDIS], services=app[JOBS], storage=app[STORAGE],
                                workspaces=SlackWorkspaces(gated))  # fmt: skip
        stale = await approval_timeout({"gs": context}, {"job_id": job_id, "attempt": 0})
        assert stale == "stale: the job asked again since"
        assert (await Job.get(id=job_id)).status is JobStatus.AWAITING_APPROVAL
        requests = await JobEvent.filter(job_id=job_id, kind="approval_requested").count()
        assert requests == 2


async def test_the_cli_retries_a_job_by_hand(
    client: Client, agent_keys: dict[str, str], tmp_path: Path, database_url: str, redis_url: str
) -> None:
    job = await _report_lost(client, agent_keys, await _started(client, agent_keys, "git.push"))
    assert isinstance(client.server, TestServer)
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "GARAGESWARM_TOKEN": agent_keys["token"],
           "GARAGESWARM_HUB_URL": str(client.make_url("/")).rstrip("/"), "LOG_LEVEL": "WARNING"}  # fmt: skip

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "hub.cli", "jobs", "retry", *args]
        return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)

    done = await cli(str(job.id)[:8])
    assert (done.returncode, done.stdout) == (0, f"Retrying job {str(job.id)[:8]} (git.push): attempt 2\n"), done.stderr
    again = await cli(str(job.id))
    assert again.returncode == 1
    assert again.stderr == ("garageswarm jobs: this job is queued: only a job that failed, timed out or was "
                            "cancelled can be retried\n")  # fmt: skip
    nowhere = await cli("abcdef12")
    assert (nowhere.returncode, nowhere.stderr) == (1, "garageswarm jobs: job abcdef12 not found\n")


async def test_a_queued_run_an_agent_gave_up_before_starting_moves_on(
    client: Client, agent_keys: dict[str, str], redis_url: str
) -> None:
    """Its arq job is spent (arq keeps its result, so its id can never be enqueued again): without this sweep
    the job would stay queued until the result expired."""
    from arq.connections import RedisSettings, create_pool

    created = await client.post("/api/v1/jobs", json={"tool": "git.push"}, headers=_bearer(agent_keys["token"]))
    job_id = (await created.json())["id"]
    await client.app[JOBS].effects.drain()
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    run = f"run:{job_id}:0"
    try:
        assert await redis.exists(f"arq:job:{run}"), "the run was enqueued"
        assert await sweeps.resend_stale_queued(redis, older_than_s=0) == 0, "still in Redis: left alone"
        assert (await Job.get(id=job_id)).attempt == 0
        await redis.delete(f"arq:job:{run}")  # what arq does when a run ends unstarted ("max retries exceeded")
        await redis.set(f"arq:result:{run}", b"x")
        await sweeps.resend_stale_queued(redis, older_than_s=0)
    finally:
        await redis.aclose()
    job = await Job.get(id=job_id)
    assert (job.status, job.attempt) == (JobStatus.QUEUED, 1)
    event = await JobEvent.get(job_id=job_id, kind="retried")
    assert event.data["reason"] == "its run was given up before it started"
