"""Webhook hub tables: inbound endpoints and their deliveries, outbound subscriptions, their
deliveries and every attempt. Secrets are stored encrypted (``hub.security.crypto``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import PartialIndex
from tortoise.models import Model

from hub.db.models import Tenant


class HookScheme(StrEnum):
    GITHUB = "github"
    STANDARD = "standard"
    HMAC = "hmac"
    BEARER = "bearer"


class HookDeliveryStatus(StrEnum):
    RECEIVED = "received"  # stored, its jobs not yet created
    PROCESSED = "processed"  # every matched rule became a job
    IGNORED = "ignored"  # no rule matched
    FAILED = "failed"  # a rule could not be rendered or its job was refused


class OutboundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up (schedule exhausted, refused target, or subscription disabled)


class HookEndpoint(Model):
    """``POST /hooks/{public_id}``: how requests are verified, the rules, where jobs report."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="hook_endpoints", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    public_id = fields.CharField(max_length=64, unique=True, description="the unguessable path segment")
    scheme = fields.CharEnumField(HookScheme, max_length=16)
    scheme_options: dict[str, Any] = fields.JSONField(default=dict, description="generic HMAC: header, encoding…")
    secret_encrypted = fields.TextField(description="Fernet token, key from GARAGESWARM_SECRET_KEY")
    rules: list[dict[str, Any]] = fields.JSONField(default=list)
    channel: dict[str, Any] = fields.JSONField(default=dict, description="thread_ref of the jobs it starts")
    rate_limit_per_min = fields.IntField(default=600)
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "hook_endpoints"
        unique_together = (("tenant", "name"),)


class HookDelivery(Model):
    """An accepted inbound request, raw, for processing and replay; unique per endpoint and delivery id."""

    id = fields.BigIntField(primary_key=True)
    endpoint: fields.ForeignKeyRelation[HookEndpoint] = fields.ForeignKeyField(
        "models.HookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    delivery_id = fields.CharField(max_length=200)
    headers: dict[str, str] = fields.JSONField(default=dict)
    body = fields.BinaryField()
    status = fields.CharEnumField(HookDeliveryStatus, max_length=16, default=HookDeliveryStatus.RECEIVED)
    matched: list[str] = fields.JSONField(default=list, description="names of the rules that matched")
    job_ids: list[str] = fields.JSONField(default=list)
    error = fields.TextField(null=True)
    replay_of = fields.BigIntField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "hook_deliveries"
        unique_together = (("endpoint", "delivery_id"),)
        # The hub worker's drain claims received deliveries in id order: this index is as small as the backlog.
        indexes = (PartialIndex(fields=("id",), name="hook_deliveries_received_idx", condition={"status": "received"}),)


class Subscription(Model):
    """An outbound webhook: these event types, to this URL, signed with this secret."""

    id = fields.UUIDField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField(
        "models.Tenant", related_name="subscriptions", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2000)
    event_types: list[str] = fields.JSONField(default=list)
    secret_encrypted = fields.TextField(description="Fernet token of the whsec_ secret")
    description = fields.CharField(max_length=200, default="")
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.TextField(null=True)
    failing_since = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "subscriptions"


class OutboundDelivery(Model):
    """One event for one subscription, retried on a schedule until it is delivered or given up."""

    id = fields.BigIntField(primary_key=True)
    subscription: fields.ForeignKeyRelation[Subscription] = fields.ForeignKeyField(
        "models.Subscription", related_name="deliveries", on_delete=fields.CASCADE
    )
    msg_id = fields.CharField(max_length=64, unique=True, description="webhook-id: the same on every attempt")
    event_type = fields.CharField(max_length=64)
    payload: dict[str, Any] = fields.JSONField()
    status = fields.CharEnumField(OutboundStatus, max_length=16, default=OutboundStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True, db_index=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbound_deliveries"


class OutboundAttempt(Model):
    """The delivery log: one row per attempt, with what the receiver answered."""

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[OutboundDelivery] = fields.ForeignKeyField(
        "models.OutboundDelivery", related_name="attempt_log", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    status_code = fields.IntField(null=True)
    response_excerpt = fields.TextField(default="")
    error = fields.TextField(null=True)
    duration_ms = fields.IntField(default=0)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbound_attempts"


class WebhookCursor(Model):
    """How far the outbound fan-out has read the job event log (one row per reader)."""

    name = fields.CharField(max_length=64, primary_key=True)
    position = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook_cursors"
