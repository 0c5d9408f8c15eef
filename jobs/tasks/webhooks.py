"""Hub-side webhook work: drain accepted inbound deliveries into jobs, in batches; make one outbound attempt."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.commands import CommandError
from hub.db.models import Job, Origin
from hub.db.webhook_models import HookDeliveryStatus, HookEndpoint, OutboundAttempt, OutboundDelivery, OutboundStatus
from hub.security.ssrf import TargetPolicy, parse_networks
from hub.settings import Settings
from hub.webhooks import outbound
from hub.webhooks.rules import Rule, RuleError, matching_rules, render, template_context
from hub.webhooks.secrets import webhook_box
from jobs import bulk, wake
from jobs.lifecycle import Effects, NewJob

from ..context import WorkerContext, context_of

log = logging.getLogger(__name__)
DRAIN_BATCH = 200


def target_policy(settings: Settings) -> TargetPolicy:
    return TargetPolicy(parse_networks(",".join(settings.webhook_allow_networks)))


def _rules_to_run(delivery: ClaimedDelivery, rules: list[Rule], payload: Any) -> list[Rule]:
    if delivery.matched == ["*"]:  # a replay: the endpoint's rules as they are now
        return matching_rules(rules, delivery.headers, payload)
    return [rule for rule in rules if rule.name in delivery.matched]


@dataclass
class ClaimedDelivery:
    """A received delivery claimed (row-locked) by this drain, and what became of it."""

    id: int
    endpoint_id: UUID
    delivery_id: str
    headers: dict[str, str]
    body: bytes
    matched: list[str]
    jobs: list[NewJob] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> HookDeliveryStatus:
        if self.errors:
            return HookDeliveryStatus.FAILED
        return HookDeliveryStatus.PROCESSED if self.matched else HookDeliveryStatus.IGNORED


_CLAIM_SQL = """
SELECT id, endpoint_id, delivery_id, headers, body, matched FROM hook_deliveries
WHERE status = 'received' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_FINISH_SQL = """
UPDATE hook_deliveries d SET status = t.status, matched = t.matched::jsonb, job_ids = t.job_ids::jsonb,
       error = NULLIF(t.error, ''), processed_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(id, status, matched, job_ids, error)
WHERE d.id = t.id
"""


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _claim(connection: BaseDBAsyncClient, limit: int) -> list[ClaimedDelivery]:
    rows = await connection.execute_query_dict(_CLAIM_SQL, [limit])
    return [
        ClaimedDelivery(id=int(r["id"]), endpoint_id=UUID(str(r["endpoint_id"])), delivery_id=str(r["delivery_id"]),
                        headers=_json(r["headers"]), body=bytes(r["body"]), matched=list(_json(r["matched"])))
        for r in rows
    ]  # fmt: skip


async def _plan(context: WorkerContext, delivery: ClaimedDelivery, endpoint: HookEndpoint | None) -> None:
    """The jobs one delivery asks for (one per matching rule), validated; errors are kept per rule."""
    if endpoint is None:
        delivery.errors.append("the endpoint no longer exists")
        return
    try:
        payload = json.loads(delivery.body)
        rules = _rules_to_run(delivery, [Rule.model_validate(r) for r in endpoint.rules], payload)
    except ValueError as exc:
        delivery.errors.append(f"unreadable delivery: {exc}"[:500])
        return
    delivery.matched = [rule.name for rule in rules]
    variables = template_context(payload, delivery.headers, delivery.delivery_id, endpoint.name)
    for rule in rules:
        try:
            tool, arguments = render(rule, variables)
            new = NewJob(
                tenant_id=endpoint.tenant_id, origin=Origin.WEBHOOK, tool=tool, arguments=arguments,  # type: ignore[attr-defined]
                requester=f"webhook:{endpoint.name}", thread_ref=dict(endpoint.channel),
                idempotency_key=f"hook:{delivery.id}:{rule.name}", max_retries=context.settings.max_retries,
            )  # fmt: skip
            delivery.jobs.append(await context.services.checked(new))
        except RuleError as exc:
            delivery.errors.append(str(exc))
        except CommandError as exc:
            delivery.errors.append(f"rule {rule.name}: {exc.message}")


async def _existing_jobs(connection: BaseDBAsyncClient, keys: list[str]) -> dict[str, str]:
    """Jobs already made for these idempotency keys (a delivery processed by an older hub version)."""
    if not keys:
        return {}
    rows = await connection.execute_query_dict(
        "SELECT idempotency_key, id FROM jobs WHERE idempotency_key = ANY($1::text[])", [keys]
    )
    return {str(r["idempotency_key"]): str(r["id"]) for r in rows}


async def drain_once(context: WorkerContext, limit: int = DRAIN_BATCH) -> int:
    """Turn up to ``limit`` received deliveries into their jobs, all in one transaction: the jobs,
    their outbox rows and the deliveries' new status commit together, so each delivery makes its
    jobs exactly once, whichever worker (or how many) drains. Returns how many were handled."""
    async with in_transaction() as connection:
        deliveries = await _claim(connection, limit)
        if not deliveries:
            return 0
        ids = {d.endpoint_id for d in deliveries}
        endpoints = {e.id: e for e in await HookEndpoint.filter(id__in=ids).using_db(connection)}
        for delivery in deliveries:
            await _plan(context, delivery, endpoints.get(delivery.endpoint_id))
        news = [new for d in deliveries for new in d.jobs]
        existing = await _existing_jobs(connection, [str(n.idempotency_key) for n in news])
        created, effects = await bulk.create_jobs(connection, [n for n in news if n.idempotency_key not in existing])
        job_ids = {**existing, **{str(job.idempotency_key): str(job.id) for job in created}}
        columns = (
            [d.id for d in deliveries], [d.status.value for d in deliveries],
            [json.dumps(d.matched) for d in deliveries],
            [json.dumps([job_ids[str(n.idempotency_key)] for n in d.jobs]) for d in deliveries],
            ["; ".join(d.errors)[:4000] for d in deliveries],
        )  # fmt: skip
        await connection.execute_query(_FINISH_SQL, list(columns))
    _apply(context, created, effects)
    for delivery in (d for d in deliveries if d.errors):
        log.warning("webhook delivery failed", extra={"delivery": delivery.id, "errors": delivery.errors})
    return len(deliveries)


def _apply(context: WorkerContext, created: list[Job], effects: Effects) -> None:
    """After commit: queue the runs (one Redis round trip) and publish each tenant's events."""
    context.services.effects.send_later(effects.outbox)
    tenant_of = {job.id: job.tenant_id for job in created}  # type: ignore[attr-defined]
    for tenant_id in set(tenant_of.values()):
        events = [e for e in effects.events if tenant_of[e.job_id] == tenant_id]  # type: ignore[attr-defined]
        threads = {job_id for job_id in effects.threads if tenant_of[job_id] == tenant_id}
        context.services.effects.apply_later(tenant_id, Effects(events=events, threads=threads))


async def drain_deliveries(context: WorkerContext) -> None:
    """The hub worker's delivery drain: whenever a hub says deliveries arrived, and every second anyway,
    so nothing waits on Redis to be processed."""
    assert context.settings.redis_url is not None

    async def drain() -> bool:
        return await drain_once(context) >= DRAIN_BATCH

    await wake.work_when_woken(context.settings.redis_url, wake.HOOK_DELIVERIES, drain)


async def process_hook_delivery(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """The arq task a replay (or an older hub) queues for a delivery: drain, which includes it."""
    handled = await drain_once(context_of(ctx))
    return f"drained {handled} deliveries"


async def _record_outcome(
    context: WorkerContext, row: OutboundDelivery, result: outbound.AttemptResult
) -> OutboundStatus:
    await OutboundAttempt.create(
        delivery_id=row.id, number=row.attempts + 1, status_code=result.status_code,
        response_excerpt=result.excerpt, error=result.error, duration_ms=result.duration_ms,
    )  # fmt: skip
    now = datetime.now(UTC)
    row.attempts += 1
    row.last_status_code, row.last_error = result.status_code, result.error  # type: ignore[assignment]
    subscription = row.subscription
    if result.ok:
        row.status, row.delivered_at, row.next_attempt_at = OutboundStatus.SUCCEEDED, now, None
        if subscription.failing_since is not None:
            subscription.failing_since = None
            await subscription.save(update_fields=["failing_since"])
    else:
        delay = (
            None if result.permanent else outbound.next_delay_s(row.attempts, context.settings.webhook_retry_schedule_s)
        )
        row.status = OutboundStatus.PENDING if delay is not None else OutboundStatus.FAILED
        row.next_attempt_at = now + timedelta(seconds=delay) if delay is not None else None
        await _note_failure(context, subscription, now)
    await row.save(update_fields=["attempts", "last_status_code", "last_error", "status", "delivered_at",
                                  "next_attempt_at"])  # fmt: skip
    return row.status


async def _note_failure(context: WorkerContext, subscription: Any, now: datetime) -> None:
    """Remember when failures began; disable the subscription once it has failed for long."""
    if subscription.failing_since is None:
        subscription.failing_since = now
        await subscription.save(update_fields=["failing_since"])
    elif (now - subscription.failing_since).total_seconds() > context.settings.webhook_disable_after_s:
        subscription.enabled = False
        subscription.disabled_reason = f"failing since {subscription.failing_since.isoformat()}"
        await subscription.save(update_fields=["enabled", "disabled_reason"])
        log.warning("subscription disabled after failing for long", extra={"subscription": str(subscription.id)})


async def deliver_webhook(ctx: dict[str, Any], delivery_id: int, attempts: int) -> str:
    """One signed attempt of an outbound delivery (stale requests, e.g. after a lease expired, do nothing)."""
    context = context_of(ctx)
    row = await OutboundDelivery.get_or_none(id=delivery_id).prefetch_related("subscription")
    if row is None or row.status is not OutboundStatus.PENDING or row.attempts != attempts:
        return "stale"
    subscription = row.subscription
    if not subscription.enabled:
        row.status, row.next_attempt_at, row.last_error = OutboundStatus.FAILED, None, "subscription disabled"
        await row.save(update_fields=["status", "next_attempt_at", "last_error"])
        return "subscription disabled"
    secret = webhook_box(context.settings).decrypt(subscription.secret_encrypted)
    body = json.dumps(row.payload, separators=(",", ":")).encode()
    headers = outbound.signed_headers(secret, row.msg_id, body, int(time.time()))
    policy = target_policy(context.settings)
    async with outbound.guarded_session(policy) as session:
        result = await outbound.attempt(session, policy, subscription.url, headers, body,
                                        context.settings.webhook_timeout_s)  # fmt: skip
    status = await _record_outcome(context, row, result)
    return f"{status.value} after attempt {row.attempts}: {result.status_code or result.error}"
