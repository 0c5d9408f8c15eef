"""The hub worker's delivery drain and the door's shared rate limit, against real Postgres and Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from hub.db.lifecycle import close_orm, init_orm
from hub.db.models import EventKind, Job, JobEvent, JobStatus, OutboxMessage, Worker
from hub.db.webhook_models import HookDelivery, OutboundDelivery, Subscription
from hub.services import admin
from hub.services.jobs import JobServices, approval_policy
from hub.services.slack_installs import SlackWorkspaces
from hub.settings import Settings
from hub.storage import LocalStorage
from hub.webhooks import inbound, manage
from hub.webhooks.secrets import webhook_box
from jobs.context import WorkerContext
from jobs.effects import EffectApplier
from jobs.tasks.webhooks import drain_once
from jobs.webhook_sweeps import purge_old
from tests.webhooks.support import GITHUB_SECRET, PR_RULE, PR_TEXT, github_headers, pull_request_body

ECHO = {"name": "demo.echo", "input_schema": {"type": "object", "properties": {"text": {"type": "string"}},
                                              "required": ["text"]}}  # fmt: skip
STRICT_RULE = {**PR_RULE, "name": "bad-args", "tool": "demo.echo", "arguments": {"text": "{{ payload.number }}"}}


@pytest.fixture
async def context(tmp_path: Path, database_url: str, redis_url: str) -> AsyncIterator[WorkerContext]:
    await init_orm(database_url, maxsize=4)
    settings = Settings.from_env({"GARAGESWARM_DATA_DIR": str(tmp_path)}).with_stores(database_url, redis_url)
    redis = ArqRedis(connection_pool=ConnectionPool.from_url(redis_url))
    services = JobServices(EffectApplier(redis), approval_policy(settings))
    yield WorkerContext(settings=settings, redis=redis, services=services, storage=LocalStorage(tmp_path / "a"),
                        workspaces=SlackWorkspaces(settings))  # fmt: skip
    await services.effects.drain()
    await redis.aclose()
    await close_orm()


async def _endpoint(context: WorkerContext, rules: list[dict[str, object]]) -> inbound.EndpointConfig:
    tenant = await admin.ensure_tenant()
    new = manage.NewEndpoint(name=f"gh-{uuid.uuid4().hex[:6]}", scheme="github", secret=GITHUB_SECRET, rules=rules)
    row, _ = await manage.create_endpoint(tenant.id, webhook_box(context.settings), new, 600)
    return inbound.EndpointConfig.load(row, webhook_box(context.settings))


async def _accept(config: inbound.EndpointConfig, n: int) -> list[int]:
    body = pull_request_body()
    deliveries = []
    for _ in range(n):
        headers = github_headers(body)
        matched = inbound.match(config, headers, json.loads(body))
        deliveries.append(inbound.Delivery(config.id, headers["X-GitHub-Delivery"], headers, body, matched))
    return [r.id for r in await inbound.record_many(deliveries)]


async def _agents(names: list[str]) -> None:
    for name in names:
        await admin.add_worker(name, {})
    await Worker.filter(name__in=names).update(tools=[ECHO], status="online")


async def test_concurrent_drains_make_each_deliverys_job_exactly_once(context: WorkerContext) -> None:
    await _agents(["garage-1", "garage-2"])
    config = await _endpoint(context, [PR_RULE])
    ids = await _accept(config, 30)
    handled = await asyncio.gather(*(drain_once(context, limit=7) for _ in range(6)))
    while sum(handled) < 30:
        handled.append(await drain_once(context, limit=7))
    jobs = await Job.all()
    assert sorted(str(j.idempotency_key) for j in jobs) == sorted(f"hook:{i}:pr-opened" for i in ids)
    assert {j.status for j in jobs} == {JobStatus.QUEUED} and {j.arguments["text"] for j in jobs} == {PR_TEXT}
    deliveries = await HookDelivery.filter(id__in=ids)
    assert {d.status.value for d in deliveries} == {"processed"}
    assert sorted(d.job_ids[0] for d in deliveries) == sorted(str(j.id) for j in jobs)
    kinds = [e.kind for e in await JobEvent.filter(job_id=jobs[0].id).order_by("seq")]
    assert kinds == [EventKind.CREATED, EventKind.QUEUED]
    runs = await OutboxMessage.filter(task="run_tool")
    assert sorted(m.dedupe_key or "" for m in runs) == sorted(f"run:{j.id}:0" for j in jobs)
    assert await drain_once(context) == 0, "nothing left: a second pass makes nothing"


async def test_a_batch_routes_least_loaded_first_counting_the_jobs_routed_before_it(context: WorkerContext) -> None:
    await _agents(["garage-1", "garage-2", "garage-3"])
    config = await _endpoint(context, [PR_RULE])
    await _accept(config, 30)
    assert await drain_once(context) == 30
    jobs = await Job.all()
    loads = sorted(sum(1 for j in jobs if j.worker_id == w.id) for w in await Worker.all())  # type: ignore[attr-defined]
    assert loads == [10, 10, 10]


async def test_a_rule_whose_job_is_invalid_fails_its_delivery_with_the_reason_and_the_rest_run(
    context: WorkerContext,
) -> None:
    await _agents(["garage-1"])
    config = await _endpoint(context, [PR_RULE, STRICT_RULE])  # number 42 renders as an integer: not a string
    [delivery_id] = await _accept(config, 1)
    assert await drain_once(context) == 1
    delivery = await HookDelivery.get(id=delivery_id)
    assert delivery.status.value == "failed" and "rule bad-args" in str(delivery.error)
    assert [j.idempotency_key for j in await Job.all()] == [f"hook:{delivery_id}:pr-opened"]


async def test_the_rate_limit_is_shared_by_hub_instances_through_redis(context: WorkerContext) -> None:
    endpoint_id, now = uuid.uuid4(), 1_800_000_020.0  # 40 s before the minute ends
    first, second = inbound.RateLimiter(context.redis, flush_s=0), inbound.RateLimiter(context.redis, flush_s=0)
    assert [first.retry_after_s(endpoint_id, 5, now) for _ in range(3)] == [None, None, None]
    await asyncio.sleep(0.05)  # the first hub's tally reaches Redis
    answers = []
    for _ in range(4):
        answers.append(second.retry_after_s(endpoint_id, 5, now))
        await asyncio.sleep(0.05)  # each flush tells the second hub the shared count
    assert answers == [None, None, 40, 40], "two more, then over the limit until the minute ends"
    await asyncio.sleep(0.05)
    assert first.retry_after_s(endpoint_id, 5, now) is None, "the first hub has not heard yet: one over, at most"
    await asyncio.sleep(0.05)
    assert first.retry_after_s(endpoint_id, 5, now) == 40
    await first.close()
    await second.close()


async def test_deliveries_past_the_retention_are_deleted_but_pending_work_is_kept(context: WorkerContext) -> None:
    config = await _endpoint(context, [PR_RULE])
    handled, pending, recent = await _accept(config, 3)
    await HookDelivery.filter(id=handled).update(status="processed")
    long_ago = datetime.now(UTC) - timedelta(days=31)
    await HookDelivery.filter(id__in=[handled, pending]).update(received_at=long_ago)
    subscription = await Subscription.create(tenant_id=config.tenant_id, url="https://example.com/x",
                                             event_types=["job.succeeded"], secret_encrypted="x")  # fmt: skip
    for status in ("succeeded", "failed", "pending"):
        row = await OutboundDelivery.create(subscription=subscription, event_type="job.succeeded", payload={},
                                            msg_id=f"msg_{status}", status=status)  # fmt: skip
        await OutboundDelivery.filter(id=row.id).update(created_at=long_ago)
    assert await purge_old(retention_days=30) == (1, 2)
    assert sorted(d.id for d in await HookDelivery.all()) == [pending, recent]
    assert [d.status.value for d in await OutboundDelivery.all()] == ["pending"], "still being retried"
