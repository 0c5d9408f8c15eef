"""One key is one agent: a second live process with the same key is refused and erases nothing; a process
whose heart-beat connection closed, or that went silent, can be replaced; a replaced one is told to stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError
from aiohttp.test_utils import TestClient

from hub.db.models import Job, JobStatus, Worker, WorkerStatus
from hub.keys import SETTINGS
from hub.services import agent_sessions

Client = TestClient[Any, Any]
TOOL = {"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object"}}


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _session(name: str, pid: int = 100) -> dict[str, Any]:
    return {"id": f"session-{name}", "host": f"host-{name}", "pid": pid}


async def _register(client: Client, key: str, session: dict[str, Any], tools: list[dict[str, Any]]) -> Any:
    return await client.post("/api/v1/agent/register", json={"tools": tools, "session": session}, headers=_bearer(key))


async def test_a_second_live_process_is_refused_naming_the_first_and_erases_nothing(
    hub_client: Client, agent_keys: dict[str, str]
) -> None:
    key = agent_keys["worker"]
    assert (await _register(hub_client, key, _session("a", 4242), [TOOL])).status == 200
    refused = await _register(hub_client, key, _session("b"), [])
    assert refused.status == 409
    message = (await refused.json())["error"]["message"]
    assert message.startswith("agent 'garage-1' is already running on host-a (pid 4242), heard from ")
    assert "one key is one agent" in message and "garageswarm workers add NAME" in message
    worker = await Worker.get(name="garage-1")
    assert [t["name"] for t in worker.tools] == ["demo.echo"], "the live agent's tools are untouched"
    assert worker.session_id == "session-a"


async def test_the_same_process_registering_again_is_not_a_restart(
    hub_client: Client, agent_keys: dict[str, str]
) -> None:
    key, token = agent_keys["worker"], agent_keys["token"]
    await _register(hub_client, key, _session("a"), [TOOL])
    created = await hub_client.post("/api/v1/jobs", json={"tool": "demo.echo"}, headers=_bearer(token))
    job_id = (await created.json())["id"]
    await hub_client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 0}, headers=_bearer(key))
    again = await _register(hub_client, key, _session("a"), [TOOL, {**TOOL, "name": "demo.more"}])  # tools changed
    assert (await again.json())["requeued"] == 0
    assert (await Job.get(id=job_id)).status is JobStatus.RUNNING


async def test_a_process_whose_heart_beat_socket_closed_can_be_replaced_and_its_runs_move_on(
    hub_client: Client, agent_keys: dict[str, str]
) -> None:
    key, token = agent_keys["worker"], agent_keys["token"]
    await _register(hub_client, key, _session("a"), [TOOL])
    created = await hub_client.post("/api/v1/jobs", json={"tool": "demo.echo"}, headers=_bearer(token))
    job_id = (await created.json())["id"]
    await hub_client.post(f"/api/v1/agent/jobs/{job_id}/start", json={"attempt": 0}, headers=_bearer(key))
    ws = await hub_client.ws_connect("/api/v1/agent/ws?session=session-a", headers=_bearer(key))
    await ws.send_json({"type": "heartbeat"})
    assert (await ws.receive_json())["type"] == "ack"
    assert (await _register(hub_client, key, _session("b"), [TOOL])).status == 409, "live while connected"
    await ws.close()  # what the kernel does to the socket of a killed process
    while (await Worker.get(name="garage-1")).session_closed_at is None:  # the hub noticed
        await asyncio.sleep(0.01)
    replaced = await _register(hub_client, key, _session("b"), [TOOL])
    assert replaced.status == 200 and (await replaced.json())["requeued"] == 1
    job = await Job.get(id=job_id)  # what the old process had started moved on (a tool without hints: it failed)
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.startswith("agent restarted while the tool was running; not retried")


async def test_a_silent_process_can_be_replaced_after_the_heart_beat_timeout(
    hub_client: Client, agent_keys: dict[str, str]
) -> None:
    key = agent_keys["worker"]
    await _register(hub_client, key, _session("a"), [TOOL])
    timeout_s = hub_client.app[SETTINGS].heartbeat_timeout_s
    await Worker.filter(name="garage-1").update(last_heartbeat_at=datetime.now(UTC) - timedelta(seconds=timeout_s + 1))
    assert (await _register(hub_client, key, _session("b"), [TOOL])).status == 200


async def test_a_replaced_process_is_told_to_stop_on_every_heart_beat_path(
    hub_client: Client, agent_keys: dict[str, str]
) -> None:
    key = agent_keys["worker"]
    await _register(hub_client, key, _session("a"), [TOOL])
    ws = await hub_client.ws_connect("/api/v1/agent/ws?session=session-a", headers=_bearer(key))
    await Worker.filter(name="garage-1").update(session_id="session-b", session={"host": "host-b", "pid": 7})
    await ws.send_json({"type": "heartbeat"})
    notice = await ws.receive_json()
    assert notice == {
        "type": "replaced",
        "detail": "agent 'garage-1' was taken over by another process on host-b (pid 7): this one stops",
    }
    assert (await ws.receive()).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    beat = await hub_client.post("/api/v1/agent/heartbeat", json={"session": "session-a"}, headers=_bearer(key))
    assert beat.status == 409 and "taken over" in (await beat.json())["error"]["message"]
    with pytest.raises(WSServerHandshakeError) as refused:
        await hub_client.ws_connect("/api/v1/agent/ws?session=session-a", headers=_bearer(key))
    assert refused.value.status == 409
    current = await hub_client.post("/api/v1/agent/heartbeat", json={"session": "session-b"}, headers=_bearer(key))
    assert current.status == 200
    assert (await Worker.get(name="garage-1")).session_closed_at is None, "the old socket closing frees nothing"


def test_a_session_is_live_only_while_heard_from_and_connected() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    worker = Worker(name="w", session_id="s", session={}, status=WorkerStatus.ONLINE,
                    last_heartbeat_at=now - timedelta(seconds=5))  # fmt: skip
    assert agent_sessions.is_live(worker, now, timeout_s=20)
    assert not agent_sessions.is_live(worker, now, timeout_s=4), "silent for longer than the timeout"
    worker.session_closed_at = now - timedelta(seconds=1)
    assert not agent_sessions.is_live(worker, now, timeout_s=20), "its socket closed after its last beat"
    worker.last_heartbeat_at = now
    assert agent_sessions.is_live(worker, now, timeout_s=20), "it beats again over HTTP"
    worker.status = WorkerStatus.OFFLINE
    assert not agent_sessions.is_live(worker, now, timeout_s=20), "the reaper gave it up"
