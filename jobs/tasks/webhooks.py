"""Hub-side webhook tasks: turn an accepted inbound delivery into jobs; make one outbound attempt."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.commands import CommandError
from hub.db.models import Job, Origin
from hub.db.webhook_models import HookDelivery, HookDeliveryStatus, OutboundAttempt, OutboundDelivery, OutboundStatus
from hub.security.ssrf import TargetPolicy, parse_networks
from hub.settings import Settings
from hub.webhooks import outbound
from hub.webhooks.rules import Rule, RuleError, matching_rules, render, template_context
from hub.webhooks.secrets import webhook_box
from jobs.lifecycle import NewJob

from ..context import WorkerContext, context_of

log = logging.getLogger(__name__)


def target_policy(settings: Settings) -> TargetPolicy:
    return TargetPolicy(parse_networks(",".join(settings.webhook_allow_networks)))


def _rules_to_run(delivery: HookDelivery, rules: list[Rule], payload: Any) -> list[Rule]:
    if delivery.matched == ["*"]:  # a replay: the endpoint's rules as they are now
        return matching_rules(rules, delivery.headers, payload)
    return [rule for rule in rules if rule.name in delivery.matched]


async def _submit(context: WorkerContext, new: NewJob) -> Job:
    try:
        job, _ = await context.services.submit(new)
    except IntegrityError:  # the same delivery processed concurrently: the other run made the job
        job = await Job.get(idempotency_key=new.idempotency_key)
    return job


async def _run_rules(context: WorkerContext, delivery: HookDelivery) -> tuple[list[str], list[str], list[str]]:
    """Create one job per matching rule: (rule names, job ids, errors)."""
    endpoint = delivery.endpoint
    payload = json.loads(bytes(delivery.body))
    rules = _rules_to_run(delivery, [Rule.model_validate(r) for r in endpoint.rules], payload)
    variables = template_context(payload, delivery.headers, delivery.delivery_id, endpoint.name)
    job_ids, errors = [], []
    for rule in rules:
        try:
            tool, arguments = render(rule, variables)
            new = NewJob(
                tenant_id=endpoint.tenant_id, origin=Origin.WEBHOOK, tool=tool, arguments=arguments,  # type: ignore[attr-defined]
                requester=f"webhook:{endpoint.name}", thread_ref=dict(endpoint.channel),
                idempotency_key=f"hook:{delivery.id}:{rule.name}", max_retries=context.settings.max_retries,
            )  # fmt: skip
            job_ids.append(str((await _submit(context, new)).id))
        except RuleError as exc:
            errors.append(str(exc))
        except CommandError as exc:
            errors.append(f"rule {rule.name}: {exc.message}")
    return [rule.name for rule in rules], job_ids, errors


async def process_hook_delivery(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """The arq task behind an accepted delivery: its jobs, created once (idempotency keys)."""
    context = context_of(ctx)
    delivery = await HookDelivery.get_or_none(id=int(payload["delivery_id"])).prefetch_related("endpoint")
    if delivery is None or delivery.status is not HookDeliveryStatus.RECEIVED:
        return "already handled"
    matched, job_ids, errors = await _run_rules(context, delivery)
    delivery.matched, delivery.job_ids = matched, job_ids
    delivery.error = "; ".join(errors)[:4000] or None  # type: ignore[assignment]
    if errors:
        delivery.status = HookDeliveryStatus.FAILED
    else:
        delivery.status = HookDeliveryStatus.PROCESSED if matched else HookDeliveryStatus.IGNORED
    delivery.processed_at = datetime.now(UTC)
    await delivery.save(update_fields=["matched", "job_ids", "error", "status", "processed_at"])
    if errors:
        log.warning("webhook delivery failed", extra={"delivery": delivery.id, "errors": errors})
    return f"{delivery.status.value}: {len(job_ids)} job(s)"


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
