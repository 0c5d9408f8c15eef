"""Creating and changing endpoints and subscriptions (shared by the REST API and the CLI)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tortoise.transactions import in_transaction

from bot.commands import ToolInfo
from hub.db.webhook_models import (
    HookDelivery,
    HookDeliveryStatus,
    HookEndpoint,
    HookScheme,
    OutboundDelivery,
    OutboundStatus,
    Subscription,
)
from hub.doors import first_problem
from hub.security.crypto import SecretBox
from hub.security.ssrf import BlockedTarget, TargetPolicy, check_host
from hub.security.webhooks import STANDARD_SECRET_PREFIX, standard_webhook_key
from hub.services.jobs import load_tool_catalog
from jobs import outbox
from jobs.queue import HUB_QUEUE

from .inbound import PROCESS_TASK, PUBLIC_ID_MAX, hmac_scheme
from .rules import Rule, RuleError, check_arguments, check_templates

EVENT_TYPES = (
    "job.succeeded", "job.failed", "job.cancelled", "job.timed_out", "approval.requested", "approval.decided",
)  # fmt: skip
PUBLIC_ID_PREFIX = "hk_"
REF_MAX = PUBLIC_ID_MAX  # hook_endpoints.name and public_id


class HookConfigError(ValueError):
    """A refused configuration; the message says what to change."""


class Channel(BaseModel):
    """Where the jobs an endpoint starts report: a console name, a Slack or a Discord channel."""

    platform: Literal["console", "slack", "discord"] = "console"
    channel: str = Field(default="webhooks", min_length=1, max_length=64)
    team: str | None = Field(default=None, max_length=64, description="Slack team or Discord guild id")

    model_config = ConfigDict(extra="forbid")

    def thread_ref(self) -> dict[str, Any]:
        return {"platform": self.platform, "channel": self.channel, "thread": None, "team": self.team}


def parse_channel(text: str) -> Channel:
    """``console[:NAME]``, ``slack:CHANNEL[:TEAM]`` or ``discord:CHANNEL[:GUILD]`` (the CLI's form)."""
    platform, _, rest = text.partition(":")
    channel, _, team = rest.partition(":")
    try:
        return Channel(platform=platform, channel=channel or "webhooks", team=team or None)  # type: ignore[arg-type]
    except ValidationError:
        raise HookConfigError(
            f"channel {text!r}: expected console[:NAME], slack:CHANNEL[:TEAM] or discord:CHANNEL"
        ) from None


def new_secret(scheme: HookScheme | Literal["outbound"]) -> str:
    if scheme in (HookScheme.STANDARD, "outbound"):
        return STANDARD_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
    return secrets.token_urlsafe(32)


def check_secret(scheme: HookScheme, secret: str) -> None:
    if len(secret) < 8 or len(secret) > 512:
        raise HookConfigError("a secret has 8 to 512 characters")
    if scheme is HookScheme.STANDARD:
        try:
            standard_webhook_key(secret)
        except ValueError as exc:
            raise HookConfigError(str(exc)) from None


def check_options(scheme: HookScheme, options: dict[str, Any]) -> dict[str, Any]:
    allowed = {"header", "algorithm", "encoding", "prefix", "delivery_header"}
    if unknown := set(options) - allowed:
        raise HookConfigError(f"unknown scheme options: {', '.join(sorted(unknown))}")
    if scheme is HookScheme.HMAC:
        try:
            hmac_scheme(options)
        except ValueError as exc:
            raise HookConfigError(f"hmac scheme: {exc}") from None
    return {key: str(value) for key, value in options.items()}


def check_rules(raw: Sequence[dict[str, Any]], catalog: Mapping[str, ToolInfo] | None = None) -> list[dict[str, Any]]:
    """Validate rules (shape, unique names, templates and, for a tool in ``catalog``, arguments); the stored form."""
    rules = []
    for index, item in enumerate(raw):
        try:
            rule = Rule.model_validate(item)
            check_templates(rule)
            check_arguments(rule, catalog or {})
        except ValidationError as exc:
            raise HookConfigError(f"rule {index + 1}: {first_problem(exc)}") from None
        except RuleError as exc:
            raise HookConfigError(str(exc)) from None
        rules.append(rule)
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise HookConfigError("rule names must be unique")
    return [rule.model_dump(by_alias=True) for rule in rules]


async def checked_rules(tenant_id: UUID, raw: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`check_rules` against the tenant's tools as its agents reported them."""
    return check_rules(raw, await load_tool_catalog(tenant_id))


@dataclass(frozen=True)
class NewEndpoint:
    name: str
    scheme: HookScheme
    secret: str | None = None
    rules: Sequence[dict[str, Any]] = ()
    channel: Channel | None = None
    rate_limit_per_min: int | None = None
    options: dict[str, Any] | None = None


async def create_endpoint(
    tenant_id: UUID, box: SecretBox, new: NewEndpoint, default_rate_limit: int
) -> tuple[HookEndpoint, str | None]:
    """Create an endpoint; (row, generated secret) — the caller shows a generated secret once. None when the
    caller gave the secret: one the user typed is never echoed back."""
    if await HookEndpoint.filter(tenant_id=tenant_id, name=new.name).exists():
        raise HookConfigError(f"an endpoint named {new.name!r} already exists")
    generated = None if new.secret else new_secret(new.scheme)
    secret = new.secret or generated or ""
    check_secret(new.scheme, secret)
    row = await HookEndpoint.create(
        tenant_id=tenant_id, name=new.name, public_id=PUBLIC_ID_PREFIX + secrets.token_urlsafe(24),
        scheme=new.scheme, scheme_options=check_options(new.scheme, dict(new.options or {})),
        secret_encrypted=box.encrypt(secret), rules=await checked_rules(tenant_id, new.rules),
        channel=(new.channel or Channel()).thread_ref(),
        rate_limit_per_min=new.rate_limit_per_min or default_rate_limit,
    )  # fmt: skip
    return row, generated


async def find_endpoint(tenant_id: UUID, ref: str) -> HookEndpoint | None:
    """An endpoint by id, public id or name (None for a reference longer than any of them: the ORM would refuse
    to compare a value longer than the column)."""
    if len(ref) > REF_MAX:
        return None
    try:
        return await HookEndpoint.get_or_none(tenant_id=tenant_id, id=UUID(ref))
    except ValueError:
        by_public = await HookEndpoint.get_or_none(tenant_id=tenant_id, public_id=ref)
        return by_public or await HookEndpoint.get_or_none(tenant_id=tenant_id, name=ref)


async def replay(delivery: HookDelivery) -> HookDelivery:
    """A new delivery with the stored body and headers, processed like the original."""
    suffix = secrets.token_hex(4)
    async with in_transaction() as connection:
        copy = await HookDelivery.create(
            endpoint_id=delivery.endpoint_id, delivery_id=f"{delivery.delivery_id[:180]}#replay-{suffix}",  # type: ignore[attr-defined]
            headers=delivery.headers, body=delivery.body, status=HookDeliveryStatus.RECEIVED,
            matched=["*"], replay_of=delivery.id, using_db=connection,
        )  # fmt: skip
        await outbox.add(connection, task=PROCESS_TASK, payload={"delivery_id": copy.id}, queue=HUB_QUEUE,
                         job_id=f"hook:{copy.id}")  # fmt: skip
    return copy


def check_events(events: Sequence[str]) -> list[str]:
    if not events:
        raise HookConfigError(f"name at least one event type: {', '.join(EVENT_TYPES)}")
    if unknown := [e for e in events if e not in EVENT_TYPES]:
        raise HookConfigError(f"unknown event types {', '.join(unknown)}: expected {', '.join(EVENT_TYPES)}")
    return sorted(set(events))


async def create_subscription(
    tenant_id: UUID, box: SecretBox, policy: TargetPolicy, url: str, events: Sequence[str],
    secret: str | None = None, description: str = "",
) -> tuple[Subscription, str | None]:  # fmt: skip
    """Create an outbound subscription after checking its target; (row, generated secret shown once, or None
    when the caller gave the secret)."""
    try:
        await check_host(policy, url)
    except BlockedTarget as exc:
        raise HookConfigError(f"target refused: {exc.reason}") from None
    generated = None if secret else new_secret("outbound")
    secret = secret or generated or ""
    check_secret(HookScheme.STANDARD, secret)
    row = await Subscription.create(
        tenant_id=tenant_id, url=url, event_types=check_events(events), secret_encrypted=box.encrypt(secret),
        description=description[:200],
    )  # fmt: skip
    return row, generated


async def retry_outbound(delivery: OutboundDelivery) -> OutboundDelivery:
    """Send a delivery again now (a manual retry): one more attempt, then the schedule as usual."""
    subscription = await Subscription.get(id=delivery.subscription_id)  # type: ignore[attr-defined]
    if not subscription.enabled:
        raise HookConfigError("the subscription is disabled: enable it first")
    delivery.status, delivery.next_attempt_at = OutboundStatus.PENDING, datetime.now(UTC)
    await delivery.save(update_fields=["status", "next_attempt_at"])
    return delivery
