"""Live job events: one Redis subscription per hub, each WebSocket viewer gets what it follows."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from hub import live
from hub.db.models import EventKind, JobEvent
from hub.keys import LIVE, REDIS
from hub.services import admin
from jobs.effects import apply
from jobs.lifecycle import Effects

pytestmark = pytest.mark.timeout(30)
Client = TestClient[Any, Any]
WebSocket = aiohttp.ClientWebSocketResponse


@pytest.fixture
async def token(hub_client: Client) -> str:
    return (await admin.add_token("viewer", ["jobs"])).key


async def _job(hub_client: Client, token: str) -> str:
    """A job's id (routed to an agent that never runs it)."""
    key = (await admin.add_worker(f"garage-{uuid.uuid4().hex[:6]}", {})).key
    tools = {"tools": [{"name": "demo.echo", "description": "", "input_schema": {"type": "object"}}]}
    await hub_client.post("/api/v1/agent/register", json=tools, headers={"Authorization": f"Bearer {key}"})
    response = await hub_client.post("/api/v1/jobs", json={"tool": "demo.echo", "arguments": {}},
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    body = await response.json()
    assert response.status == 201, body
    return str(body["id"])


async def _publish(hub_client: Client, tenant_id: str, job_id: str, seq: int) -> None:
    event = JobEvent(job_id=uuid.UUID(job_id), seq=seq, kind=EventKind.PROGRESS, attempt=0,
                     data={"progress": seq}, created_at=datetime.now(UTC))  # fmt: skip
    await apply(hub_client.app[REDIS], uuid.UUID(tenant_id), Effects(events=[event]))


async def _viewer(hub_client: Client, token: str, job_id: str | None = None) -> WebSocket:
    query = f"?job={job_id}" if job_id else ""
    ws: WebSocket = await hub_client.ws_connect(f"/api/v1/ws{query}", headers={"Authorization": f"Bearer {token}"})
    return ws


async def _next(ws: WebSocket, timeout_s: float = 5.0) -> dict[str, Any]:
    message = await ws.receive(timeout=timeout_s)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    event: dict[str, Any] = json.loads(message.data)
    return event


async def _published(ws: WebSocket, count: int) -> list[tuple[str, int]]:
    """The next ``count`` events this test published (seq 98 and up), skipping the jobs' own events."""
    seen: list[tuple[str, int]] = []
    while len(seen) < count:
        event = await _next(ws)
        if event["seq"] >= 98:
            seen.append((event["job_id"], event["seq"]))
    return seen


async def _tenant_of(token: str) -> str:
    from hub.db.models import ApiToken

    return str((await ApiToken.get(name="viewer")).tenant_id)  # type: ignore[attr-defined]


async def test_viewers_share_one_subscription_and_each_gets_what_it_follows(hub_client: Client, token: str) -> None:
    tenant_id = await _tenant_of(token)
    job_a, job_b = await _job(hub_client, token), await _job(hub_client, token)
    everything, only_a, only_b = (await _viewer(hub_client, token), await _viewer(hub_client, token, job_a),
                                  await _viewer(hub_client, token, job_b))  # fmt: skip
    assert [(await _next(only_a))["kind"], (await _next(only_b))["kind"]] == ["created", "created"], "history first"
    await asyncio.sleep(0.2)  # the jobs' own events are published in the background

    await _publish(hub_client, str(uuid.uuid4()), job_a, 98)  # another tenant's event on the same job id
    await _publish(hub_client, tenant_id, job_a, 100)
    await _publish(hub_client, tenant_id, job_b, 200)

    assert await _published(everything, 2) == [(job_a, 100), (job_b, 200)], "not the other tenant's"
    assert await _published(only_a, 1) == [(job_a, 100)]
    assert await _published(only_b, 1) == [(job_b, 200)]
    redis: Redis = hub_client.app[REDIS]
    assert await redis.execute_command("PUBSUB", "NUMPAT") == 1, "three viewers, one subscription"
    assert hub_client.app[LIVE].viewers() == 3
    for ws in (everything, only_a, only_b):
        await ws.close()
    await asyncio.sleep(0.1)
    assert hub_client.app[LIVE].viewers() == 0, "closed sockets stop following"


async def test_a_viewer_that_falls_behind_is_closed_to_reconnect(hub_client: Client, token: str) -> None:
    ws = await _viewer(hub_client, token)
    [viewer] = [v for viewers in hub_client.app[LIVE]._by_tenant.values() for v in viewers]
    viewer.drop()
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == WSCloseCode.TRY_AGAIN_LATER


def test_a_full_queue_drops_the_viewer_not_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "VIEWER_QUEUE_MAX", 2)
    events = live.LiveEvents(Redis())
    slow, fast = events.follow("t1"), events.follow("t1", "j1")
    for seq in range(3):
        events.deliver("gs:events:t1:j1", f"event {seq}")
        fast.queue.get_nowait()
    assert slow.dropped and slow.queue.qsize() == 2 + 1, "two events kept, then the end of its stream"
    assert slow.queue.get_nowait() == "event 0" and slow.queue.get_nowait() == "event 1"
    assert slow.queue.get_nowait() is None
    assert not fast.dropped
    events.deliver("gs:events:t1", "no job in the name")  # ignored, as is anything not an event channel
    events.deliver("elsewhere:t1:j1", "x")
    assert fast.queue.empty()


async def test_the_subscription_comes_back_after_its_connection_is_killed(hub_client: Client, token: str) -> None:
    tenant_id = await _tenant_of(token)
    job_id = await _job(hub_client, token)
    ws = await _viewer(hub_client, token)
    redis: Redis = hub_client.app[REDIS]
    assert await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
    for seq in range(1, 100):  # publish until the hub has subscribed again
        await _publish(hub_client, tenant_id, job_id, seq)
        try:
            event = await _next(ws, timeout_s=0.2)
        except TimeoutError:
            continue
        assert event["job_id"] == job_id
        return
    pytest.fail("the live subscription did not come back")


async def test_the_hubs_own_events_reach_its_viewers_once_and_other_hubs_through_redis(
    hub_client: Client, token: str
) -> None:
    redis: Redis = hub_client.app[REDIS]
    origin = hub_client.app[LIVE].origin
    others = redis.pubsub()
    await others.psubscribe("gs:events:*")  # what another hub's subscription sees
    try:
        ws = await _viewer(hub_client, token)
        job_id = await _job(hub_client, token)
        assert [(await _next(ws))["kind"] for _ in range(2)] == ["created", "queued"]
        with pytest.raises(TimeoutError):
            await _next(ws, timeout_s=0.5)  # Redis echoed both back to this hub: skipped
        channels: list[str] = []
        for _ in range(50):
            message = await others.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                channels.append(message["channel"].decode())
            elif len(channels) == 2:
                break
        assert len(channels) == 2, "each published once"
        assert all(c.startswith("gs:events:") and c.endswith(f":{job_id}:{origin}") for c in channels)
    finally:
        await others.aclose()


def test_an_event_is_skipped_only_when_this_hub_published_it() -> None:
    events = live.LiveEvents(Redis())
    viewer = events.follow("t1")
    events.deliver(f"gs:events:t1:j1:{events.origin}", "mine")
    events.deliver("gs:events:t1:j1:another-hub", "theirs")
    events.deliver("gs:events:t1:j1", "a worker's")
    assert [viewer.queue.get_nowait() for _ in range(viewer.queue.qsize())] == ["theirs", "a worker's"]


async def test_events_waiting_together_are_written_corked_in_order_and_the_cork_is_released() -> None:
    from hub.routes.live import _forward

    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    corked_while_sending: list[tuple[str, int]] = []

    class Recorder:
        async def send_str(self, data: str) -> None:
            corked_while_sending.append((data, server.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)))

        async def close(self, **_: Any) -> None:
            corked_while_sending.append(("closed", server.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)))

    try:
        viewer = live.Viewer("t1", None)
        for data in ("a", "b", "c"):
            viewer.offer(data)
        viewer.drop()
        await _forward(viewer, Recorder(), server)  # type: ignore[arg-type]
        assert corked_while_sending == [("a", 1), ("b", 1), ("c", 1), ("closed", 0)]
    finally:
        for sock in (client, server, listener):
            sock.close()
