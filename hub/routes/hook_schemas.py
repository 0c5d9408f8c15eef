"""Bodies of the webhook door and of the endpoint and subscription management API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hub.webhooks.manage import Channel
from hub.webhooks.rules import Rule

_HOOK_ID = "2b1f6c0e-4d2a-4f7e-9a10-3c5d7e9f1a2b"
_SUB_ID = "7c9e2a14-5b3d-4e6f-8a1b-2c3d4e5f6a7b"
_RULE = {"name": "pr-opened", "when": {"headers": {"X-GitHub-Event": "pull_request"}, "json": {"action": "opened"}},
         "tool": "demo.echo", "arguments": {"text": "PR #{{ payload.number }}"}}  # fmt: skip


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class HookAnswer(BaseModel):
    """What the door answers a sender."""

    status: Literal["accepted", "ignored", "duplicate"]
    delivery: int
    delivery_id: str
    matched: list[str]
    detail: str | None = None

    model_config = _examples(
        {"status": "accepted", "delivery": 42, "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
         "matched": ["pr-opened"], "detail": None}
    )  # fmt: skip


class CreateHook(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    scheme: Literal["github", "standard", "hmac", "bearer"]
    secret: str | None = Field(default=None, description="omit to have one generated (shown once)")
    options: dict[str, str] = Field(default_factory=dict, description="hmac: header, algorithm, encoding, prefix; "
                                    "any: delivery_header")  # fmt: skip
    rules: list[Rule] = Field(default_factory=list, max_length=100)
    channel: Channel = Field(default_factory=Channel)
    rate_limit_per_min: int | None = Field(default=None, ge=1, le=10_000_000)

    model_config = _examples(
        {"name": "github", "scheme": "github", "secret": None, "options": {}, "rules": [_RULE],
         "channel": {"platform": "slack", "channel": "C0123456789", "team": "T0123456789"}, "rate_limit_per_min": 600}
    )  # fmt: skip


class UpdateHook(BaseModel):
    rules: list[Rule] | None = Field(default=None, max_length=100)
    channel: Channel | None = None
    rate_limit_per_min: int | None = Field(default=None, ge=1, le=10_000_000)
    enabled: bool | None = None
    secret: str | None = None

    model_config = _examples({"rules": [_RULE], "enabled": True})


class HookView(BaseModel):
    id: UUID
    name: str
    url: str
    scheme: str
    options: dict[str, str]
    rules: list[dict[str, Any]]
    channel: dict[str, Any]
    rate_limit_per_min: int
    enabled: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="only in the answer that created or rotated it")

    model_config = _examples(
        {"id": _HOOK_ID, "name": "github", "url": "/hooks/hk_3q2…", "scheme": "github", "options": {},
         "rules": [_RULE], "channel": {"platform": "console", "channel": "webhooks", "thread": None, "team": None},
         "rate_limit_per_min": 600, "enabled": True, "created_at": "2026-11-25T10:00:00Z", "secret": None}
    )  # fmt: skip


class HookList(BaseModel):
    hooks: list[HookView]

    model_config = _examples({"hooks": []})


class HookDeliveryView(BaseModel):
    id: int
    delivery_id: str
    status: str
    matched: list[str]
    job_ids: list[str]
    error: str | None
    replay_of: int | None
    received_at: datetime
    processed_at: datetime | None
    headers: dict[str, str] | None = None
    body: str | None = None

    model_config = _examples(
        {"id": 42, "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "status": "processed",
         "matched": ["pr-opened"], "job_ids": ["5f0c6a52-3a3e-4c3b-9a57-4b1d0a1e9c11"], "error": None,
         "replay_of": None, "received_at": "2026-11-25T10:00:00Z", "processed_at": "2026-11-25T10:00:00Z"}
    )  # fmt: skip


class HookDeliveryList(BaseModel):
    deliveries: list[HookDeliveryView]

    model_config = _examples({"deliveries": []})


class CreateSubscription(BaseModel):
    url: str = Field(max_length=2000)
    events: list[str] = Field(min_length=1, max_length=20)
    secret: str | None = Field(default=None, description="whsec_…; omit to have one generated (shown once)")
    description: str = Field(default="", max_length=200)

    model_config = _examples({"url": "https://ci.example.com/garageswarm", "events": ["job.succeeded", "job.failed"]})


class UpdateSubscription(BaseModel):
    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=20)
    enabled: bool | None = None

    model_config = _examples({"enabled": True})


class SubscriptionView(BaseModel):
    id: UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    secret: str | None = None

    model_config = _examples(
        {"id": _SUB_ID, "url": "https://ci.example.com/garageswarm", "events": ["job.succeeded"], "description": "",
         "enabled": True, "disabled_reason": None, "failing_since": None, "created_at": "2026-11-25T10:00:00Z",
         "secret": None}
    )  # fmt: skip


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionView]

    model_config = _examples({"subscriptions": []})


class AttemptView(BaseModel):
    number: int
    status_code: int | None
    response_excerpt: str
    error: str | None
    duration_ms: int
    at: datetime


class OutboundView(BaseModel):
    id: int
    msg_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptView]

    model_config = _examples(
        {"id": 7, "msg_id": "msg_1234_7c9e2a145b3d", "event_type": "job.succeeded", "status": "succeeded",
         "attempts": 2, "next_attempt_at": None, "last_status_code": 200, "last_error": None,
         "created_at": "2026-11-25T10:00:00Z", "delivered_at": "2026-11-25T10:00:06Z",
         "log": [{"number": 1, "status_code": 503, "response_excerpt": "busy", "error": "HTTP 503",
                  "duration_ms": 12, "at": "2026-11-25T10:00:01Z"}]}
    )  # fmt: skip


class OutboundList(BaseModel):
    deliveries: list[OutboundView]

    model_config = _examples({"deliveries": []})
