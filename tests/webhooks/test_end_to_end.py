"""Webhooks end to end with real hub, hub worker and agent processes: a recorded GitHub payload
becomes a job on an agent; nothing accepted is lost or run twice; outbound deliveries are signed
and retried until the receiver takes them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from hub.db.lifecycle import close_orm
from hub.db.models import Job
from hub.db.webhook_models import HookDelivery
from hub.services import admin
from hub.stores.embedded import start_redis, stop_redis
from tests.conftest import StartSwarm
from tests.harness import Swarm, demo_stdio_config, open_orm
from tests.webhooks.support import GITHUB_SECRET, PR_RULE, PR_TEXT, github_headers, pull_request_body

pytestmark = pytest.mark.timeout(120)


async def _post(swarm: Swarm, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(swarm.url + path, data=body, headers=headers) as r:
        return r.status, await r.json()


async def _github_endpoint(swarm: Swarm) -> str:
    body = {"name": "github", "scheme": "github", "secret": GITHUB_SECRET, "rules": [PR_RULE],
            "channel": {"platform": "console", "channel": "reviews"}}  # fmt: skip
    status, created = await swarm.api("POST", "/api/v1/hooks", json=body)
    assert status == 201, created
    return str(created["url"])


async def _delivery(swarm: Swarm, hook: str, delivery: int, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, view = await swarm.api("GET", f"/api/v1/hooks/{hook}/deliveries/{delivery}")
        if view["status"] != "received":
            return dict(view)
        await asyncio.sleep(0.1)
    raise AssertionError(f"delivery {delivery} was not processed:\n" + "\n".join(p.logs() for p in swarm.processes))


async def test_a_github_pull_request_runs_its_rule_as_a_job_on_a_real_agent(swarm: Swarm) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    url, body = await _github_endpoint(swarm), pull_request_body()
    status, answer = await _post(swarm, url, body, github_headers(body))
    assert status == 202 and answer["matched"] == ["pr-opened"]
    delivery = await _delivery(swarm, "github", answer["delivery"])
    assert delivery["status"] == "processed", delivery
    (job_id,) = delivery["job_ids"]
    job = await swarm.wait_job(job_id)
    assert job["status"] == "succeeded" and job["origin"] == "webhook" and job["requester"] == "webhook:github"
    assert job["result"]["outputs"] == [{"type": "text", "text": PR_TEXT}]
    assert (await Job.get(id=job_id)).thread_ref == {"platform": "console", "channel": "reviews", "thread": None,
                                                      "team": None}  # fmt: skip
    status, replayed = await swarm.api("POST", f"/api/v1/hooks/github/deliveries/{answer['delivery']}/replay")
    assert status == 202 and replayed["replay_of"] == answer["delivery"]
    again = await _delivery(swarm, "github", replayed["id"])
    assert again["status"] == "processed" and again["job_ids"] != delivery["job_ids"]
    assert (await swarm.wait_job(again["job_ids"][0]))["status"] == "succeeded"


@pytest.mark.timeout(150)
async def test_hub_killed_after_202_with_redis_stopped_every_delivery_runs_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    redis_dir = tmp_path / "own-redis"
    redis = start_redis(redis_dir)
    await open_orm(database_url)
    swarm = Swarm(database_url=database_url, redis_url=redis.url(), workdir=tmp_path)
    try:
        swarm.token = (await admin.add_token("tests", ["jobs"])).key
        hub = await swarm.start_hub()
        worker = swarm.start_worker()
        await swarm.add_agent("garage-1", demo_stdio_config())
        await swarm.wait_tools()
        url, body = await _github_endpoint(swarm), pull_request_body()
        stop_redis(redis)
        accepted = []
        for _ in range(5):
            status, answer = await _post(swarm, url, body, github_headers(body))
            assert status == 202, answer
            accepted.append(answer["delivery"])
        hub.kill()  # right after the answers, before anything could be enqueued
        redis = start_redis(redis_dir)
        assert worker.popen is not None and worker.popen.poll() is None, "the hub worker rides out the outage"
        hub.start()
        await swarm.wait_healthy()
        for delivery_id in accepted:
            delivery = await _delivery(swarm, "github", delivery_id, timeout_s=60)
            assert delivery["status"] == "processed", delivery
            job = await swarm.wait_job(delivery["job_ids"][0], timeout_s=60)
            assert [e["kind"] for e in job["events"]].count("succeeded") == 1
        assert await HookDelivery.filter(id__in=accepted).count() == 5
        assert await Job.filter(idempotency_key__startswith="hook:").count() == 5, "one job per delivery"
    finally:
        swarm.stop()
        stop_redis(redis)
        await close_orm()


class Receiver:
    """A subscriber that refuses the first delivery (503) and accepts the next."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []

    async def handle(self, request: web.Request) -> web.Response:
        status = 503 if not self.requests else 200
        self.requests.append((dict(request.headers), await request.read(), status))
        return web.Response(status=status, text="busy, try later" if status == 503 else "thanks")


async def test_outbound_deliveries_are_signed_and_retried_until_accepted(
    start_swarm: StartSwarm, aiohttp_server: Any
) -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)
    swarm = await start_swarm(GARAGESWARM_WEBHOOK_ALLOW_NETWORKS="127.0.0.1/32",
                              GARAGESWARM_WEBHOOK_RETRY_SCHEDULE_S="0.5,0.5")  # fmt: skip
    status, sub = await swarm.api("POST", "/api/v1/subscriptions",
                                  json={"url": str(server.make_url("/hook")), "events": ["job.succeeded"]})  # fmt: skip
    assert status == 201 and sub["secret"].startswith("whsec_")
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    job_id = await swarm.submit("demo.echo", text="tell the world")
    await swarm.wait_job(job_id)
    deadline = time.monotonic() + 30
    while len(receiver.requests) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert [code for _, _, code in receiver.requests] == [503, 200]
    (_, first, _), (headers, body, _) = receiver.requests
    assert first == body, "every attempt sends the same message"
    event = Webhook(sub["secret"]).verify(body, {k.lower(): v for k, v in headers.items()})
    assert event["type"] == "job.succeeded" and event["data"]["job"]["id"] == job_id
    assert event["data"]["job"]["result"]["outputs"] == [{"type": "text", "text": "tell the world"}]
    await asyncio.sleep(0.3)
    _, log = await swarm.api("GET", f"/api/v1/subscriptions/{sub['id']}/deliveries")
    (delivery,) = log["deliveries"]
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 2
    assert [(a["status_code"], a["response_excerpt"]) for a in delivery["log"]] == [(503, "busy, try later"),
                                                                                  (200, "thanks")]  # fmt: skip
    status, retried = await swarm.api("POST", f"/api/v1/subscriptions/{sub['id']}/deliveries/{delivery['id']}/retry")
    assert status == 202 and retried["deliveries"][0]["status"] == "pending"
    while len(receiver.requests) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert receiver.requests[2][0]["webhook-id"] == headers["webhook-id"], "a manual retry is the same message"


async def test_a_subscription_failing_for_long_is_disabled(start_swarm: StartSwarm, aiohttp_server: Any) -> None:
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=500, text="down")

    app = web.Application()
    app.router.add_post("/hook", down)
    server = await aiohttp_server(app)
    swarm = await start_swarm(GARAGESWARM_WEBHOOK_ALLOW_NETWORKS="127.0.0.1", GARAGESWARM_WEBHOOK_DISABLE_AFTER_S="1",
                              GARAGESWARM_WEBHOOK_RETRY_SCHEDULE_S="0.4,0.4,0.4,0.4,0.4,0.4")  # fmt: skip
    target = {"url": str(server.make_url("/hook")), "events": ["job.succeeded", "job.failed"]}
    _, sub = await swarm.api("POST", "/api/v1/subscriptions", json=target)
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    await swarm.wait_job(await swarm.submit("demo.echo", text="x"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, view = await swarm.api("GET", f"/api/v1/subscriptions/{sub['id']}")
        if not view["enabled"]:
            break
        await asyncio.sleep(0.2)
    assert not view["enabled"] and view["disabled_reason"].startswith("failing since")
    _, log = await swarm.api("GET", f"/api/v1/subscriptions/{sub['id']}/deliveries")
    assert all(a["status_code"] == 500 for a in log["deliveries"][0]["log"])
