"""The agent API's doors: keys checked, kinds not interchangeable, reports idempotent."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from hub.db.models import Job, JobEvent
from hub.services import admin

TOOLS = {"tools": [{"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object",
         "properties": {"text": {"type": "string"}}, "required": ["text"]}}]}  # fmt: skip


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _tampered(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/agent/register"), ("POST", "/api/v1/agent/heartbeat"),
     ("POST", "/api/v1/agent/jobs/00000000-0000-0000-0000-000000000000/result")],
)  # fmt: skip
async def test_agent_doors_refuse_missing_tampered_and_api_token_keys(
    hub_client: TestClient, agent_keys: dict[str, str], method: str, path: str
) -> None:
    for headers in ({}, _bearer(_tampered(agent_keys["worker"])), _bearer(agent_keys["token"]), _bearer("gsw_garbage")):
        response = await hub_client.request(method, path, json={}, headers=headers)
        assert response.status == 401, headers
        assert (await response.json())["error"]["code"] == "unauthorized"


async def test_api_doors_refuse_an_agent_key(hub_client: TestClient, agent_keys: dict[str, str]) -> None:
    for path in ("/api/v1/jobs", "/api/v1/workers"):
        assert (await hub_client.get(path, headers=_bearer(agent_keys["worker"]))).status == 401
        assert (await hub_client.get(path, headers=_bearer(_tampered(agent_keys["token"])))).status == 401
        assert (await hub_client.get(path, headers=_bearer(agent_keys["token"]))).status == 200


async def test_malformed_and_oversized_bodies_get_clear_errors(
    hub_client: TestClient, agent_keys: dict[str, str]
) -> None:
    headers = {**_bearer(agent_keys["token"]), "Content-Type": "application/json"}
    malformed = await hub_client.post("/api/v1/jobs", data=b"{not json", headers=headers)
    assert malformed.status == 400 and "malformed JSON" in (await malformed.json())["error"]["message"]
    invalid = await hub_client.post("/api/v1/jobs", json={"tool": "no dot"}, headers=_bearer(agent_keys["token"]))
    assert invalid.status == 422
    huge = await hub_client.post("/api/v1/jobs", data=b"x" * (2 * 1024 * 1024), headers=headers)
    assert huge.status == 413
    assert await Job.all().count() == 0


async def test_stale_start_is_refused_and_a_repeated_result_counts_once(
    hub_client: TestClient, agent_keys: dict[str, str]
) -> None:
    agent = _bearer(agent_keys["worker"])
    assert (await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=agent)).status == 200
    created = await hub_client.post(
        "/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": "hi"}}, headers=_bearer(agent_keys["token"])
    )
    job_id = (await created.json())["id"]
    stale = await hub_client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 1}, headers=agent)
    assert await stale.json() == {"run": False, "reason": "stale attempt: the job was re-queued"}
    start = await hub_client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 0}, headers=agent)
    assert (await start.json())["run"] is True
    result = {"attempt": 0, "outcome": "succeeded", "outputs": [{"type": "text", "text": "hi"}]}
    first = await hub_client.post(f"/api/v1/agent/jobs/{job_id}/result", json=result, headers=agent)
    again = await hub_client.post(f"/api/v1/agent/jobs/{job_id}/result", json=result, headers=agent)
    assert await first.json() == {"status": "succeeded", "duplicate": False}
    assert await again.json() == {"status": "succeeded", "duplicate": True}
    assert await JobEvent.filter(job_id=job_id, kind="succeeded").count() == 1
    late = await hub_client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 0}, headers=agent)
    assert await late.json() == {"run": False, "reason": "job already succeeded"}


async def test_another_tenant_s_agent_cannot_report_on_a_job(
    hub_client: TestClient, agent_keys: dict[str, str]
) -> None:
    agent = _bearer(agent_keys["worker"])
    await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=agent)
    created = await hub_client.post(
        "/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": "hi"}}, headers=_bearer(agent_keys["token"])
    )
    job_id = (await created.json())["id"]
    stranger = await admin.add_worker("stranger", {}, tenant_slug="other")
    response = await hub_client.post(
        f"/api/v1/agent/jobs/{job_id}/result", json={"attempt": 0, "outcome": "succeeded"},
        headers=_bearer(stranger.key),
    )  # fmt: skip
    assert response.status == 404


async def test_an_artifact_upload_is_bounded_and_checked_and_idempotent(
    hub_client: TestClient, agent_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.routes import agent_api

    agent = _bearer(agent_keys["worker"])
    assert (await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=agent)).status == 200
    created = await hub_client.post("/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": "x"}},
                                    headers=_bearer(agent_keys["token"]))  # fmt: skip
    job_id = (await created.json())["id"]
    url = f"/api/v1/agent/jobs/{job_id}/artifacts"
    png = {**agent, "Content-Type": "image/png"}
    monkeypatch.setattr(agent_api, "MAX_ARTIFACT_BYTES", 1024)

    async def put(query: str, body: bytes = b"\x89PNG data", headers: dict[str, str] = png) -> tuple[int, dict]:
        response = await hub_client.put(f"{url}{query}", data=body, headers=headers)
        return response.status, await response.json()

    assert (await put("?name=a.png"))[0] == 400, "attempt is required"
    assert (await put("?attempt=x&name=a.png"))[0] == 400
    assert (await put("?attempt=0&name=../a.png"))[0] == 400, "a path is not a file name"
    assert (await put("?attempt=0&name=%20"))[0] == 400
    for name in ("..", ".", "a%5Cb.png", "a%00.png"):
        assert (await put(f"?attempt=0&name={name}"))[0] == 400, name
    assert (await put("?attempt=1&name=a.png"))[0] == 409, "a stale attempt stores nothing"
    assert (await put("?attempt=0&name=a.png", b"x" * 1025))[0] == 413
    assert (await hub_client.put("/api/v1/agent/jobs/nope/artifacts?attempt=0&name=a", data=b"x",
                                 headers=png)).status == 404  # fmt: skip
    assert (await put("?attempt=0&name=a.png", headers=_bearer(agent_keys["token"])))[0] == 401

    first_status, first = await put("?attempt=0&name=a.png")
    again_status, again = await put("?attempt=0&name=a.png")
    assert (first_status, again_status) == (200, 200) and first["id"] == again["id"], "same content: one artifact"
    assert first["mime_type"] == "image/png" and first["size_bytes"] == len(b"\x89PNG data")
    events = await JobEvent.filter(job_id=job_id, kind="artifact").count()
    assert events == 1
