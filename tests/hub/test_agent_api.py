"""The agent API's doors: keys checked, kinds not interchangeable, reports idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.db.lifecycle import close_orm, init_orm
from hub.db.models import Job, JobEvent
from hub.services import admin
from hub.settings import Settings

AiohttpClient = Any
TOOLS = {"tools": [{"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object",
         "properties": {"text": {"type": "string"}}, "required": ["text"]}}]}  # fmt: skip


@pytest.fixture
async def keys(database_url: str) -> AsyncIterator[dict[str, str]]:
    await init_orm(database_url, maxsize=2)
    worker = await admin.add_worker("garage-1", {})
    token = await admin.add_token("tests", ["jobs"])
    yield {"worker": worker.key, "token": token.key}
    await close_orm()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _tampered(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, keys: dict[str, str]) -> TestClient:
    return await aiohttp_client(create_app(settings))


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/agent/register"), ("POST", "/api/v1/agent/heartbeat"),
     ("POST", "/api/v1/agent/jobs/00000000-0000-0000-0000-000000000000/result")],
)  # fmt: skip
async def test_agent_doors_refuse_missing_tampered_and_api_token_keys(
    client: TestClient, keys: dict[str, str], method: str, path: str
) -> None:
    for headers in ({}, _bearer(_tampered(keys["worker"])), _bearer(keys["token"]), _bearer("gsw_garbage")):
        response = await client.request(method, path, json={}, headers=headers)
        assert response.status == 401, headers
        assert (await response.json())["error"]["code"] == "unauthorized"


async def test_api_doors_refuse_an_agent_key(client: TestClient, keys: dict[str, str]) -> None:
    for path in ("/api/v1/jobs", "/api/v1/workers"):
        assert (await client.get(path, headers=_bearer(keys["worker"]))).status == 401
        assert (await client.get(path, headers=_bearer(_tampered(keys["token"])))).status == 401
        assert (await client.get(path, headers=_bearer(keys["token"]))).status == 200


async def test_malformed_and_oversized_bodies_get_clear_errors(client: TestClient, keys: dict[str, str]) -> None:
    headers = {**_bearer(keys["token"]), "Content-Type": "application/json"}
    malformed = await client.post("/api/v1/jobs", data=b"{not json", headers=headers)
    assert malformed.status == 400 and "malformed JSON" in (await malformed.json())["error"]["message"]
    invalid = await client.post("/api/v1/jobs", json={"tool": "no dot"}, headers=_bearer(keys["token"]))
    assert invalid.status == 422
    huge = await client.post("/api/v1/jobs", data=b"x" * (2 * 1024 * 1024), headers=headers)
    assert huge.status == 413
    assert await Job.all().count() == 0


async def test_stale_start_is_refused_and_a_repeated_result_counts_once(
    client: TestClient, keys: dict[str, str]
) -> None:
    agent = _bearer(keys["worker"])
    assert (await client.post("/api/v1/agent/register", json=TOOLS, headers=agent)).status == 200
    created = await client.post(
        "/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": "hi"}}, headers=_bearer(keys["token"])
    )
    job_id = (await created.json())["id"]
    stale = await client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 1}, headers=agent)
    assert await stale.json() == {"run": False, "reason": "stale attempt: the job was re-queued"}
    start = await client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 0}, headers=agent)
    assert (await start.json())["run"] is True
    result = {"attempt": 0, "outcome": "succeeded", "outputs": [{"type": "text", "text": "hi"}]}
    first = await client.post(f"/api/v1/agent/jobs/{job_id}/result", json=result, headers=agent)
    again = await client.post(f"/api/v1/agent/jobs/{job_id}/result", json=result, headers=agent)
    assert await first.json() == {"status": "succeeded", "duplicate": False}
    assert await again.json() == {"status": "succeeded", "duplicate": True}
    assert await JobEvent.filter(job_id=job_id, kind="succeeded").count() == 1
    late = await client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 0}, headers=agent)
    assert await late.json() == {"run": False, "reason": "job already succeeded"}


async def test_another_tenant_s_agent_cannot_report_on_a_job(client: TestClient, keys: dict[str, str]) -> None:
    agent = _bearer(keys["worker"])
    await client.post("/api/v1/agent/register", json=TOOLS, headers=agent)
    created = await client.post(
        "/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": "hi"}}, headers=_bearer(keys["token"])
    )
    job_id = (await created.json())["id"]
    stranger = await admin.add_worker("stranger", {}, tenant_slug="other")
    response = await client.post(
        f"/api/v1/agent/jobs/{job_id}/result", json={"attempt": 0, "outcome": "succeeded"},
        headers=_bearer(stranger.key),
    )  # fmt: skip
    assert response.status == 404
