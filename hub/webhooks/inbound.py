"""The inbound ack path: verify a request for its endpoint, bound it, record it with its outbox row.

What happens here is what must happen before answering: verify → (rate limit) → one INSERT
statement that stores the delivery and, when a rule matched, its outbox row → answer. Jobs are made
by the hub worker (``jobs.tasks.webhooks``). Redis is optional on this path: the rate limit is
skipped while Redis is unreachable, and the outbox row is relayed whenever Redis is back."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from tortoise import connections

from hub.db.webhook_models import HookDeliveryStatus, HookEndpoint, HookScheme
from hub.security.crypto import SecretBox
from hub.security.webhooks import (
    HmacScheme,
    WebhookSignatureError,
    header_value,
    verify_bearer_token,
    verify_github_signature,
    verify_hmac_signature,
    verify_standard_webhook,
)
from jobs import outbox
from jobs.queue import HUB_QUEUE

from .rules import Rule, matching_rules

log = logging.getLogger(__name__)
PROCESS_TASK = "process_hook_delivery"
ENDPOINT_CACHE_TTL_S = 2.0
RATE_LIMIT_TIMEOUT_S = 0.25
REDIS_BACKOFF_S = 2.0
KEPT_HEADERS_MAX = 64
DELIVERY_HEADERS = {HookScheme.GITHUB: "X-GitHub-Delivery", HookScheme.STANDARD: "webhook-id"}


@dataclass(frozen=True)
class EndpointConfig:
    """An endpoint as the ack path needs it: secret decrypted, rules parsed."""

    id: UUID
    tenant_id: UUID
    name: str
    scheme: HookScheme
    options: Mapping[str, Any]
    secret: str
    rules: tuple[Rule, ...]
    rate_limit_per_min: int
    enabled: bool

    @classmethod
    def load(cls, row: HookEndpoint, box: SecretBox) -> EndpointConfig:
        return cls(
            id=row.id, tenant_id=row.tenant_id, name=row.name, scheme=row.scheme,  # type: ignore[attr-defined]
            options=dict(row.scheme_options), secret=box.decrypt(row.secret_encrypted),
            rules=tuple(Rule.model_validate(rule) for rule in row.rules),
            rate_limit_per_min=row.rate_limit_per_min, enabled=row.enabled,
        )  # fmt: skip


def verify(config: EndpointConfig, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Check the request against the endpoint's scheme; raise WebhookSignatureError if it is not authentic."""
    if config.scheme is HookScheme.GITHUB:
        verify_github_signature(config.secret, headers, body)
    elif config.scheme is HookScheme.STANDARD:
        verify_standard_webhook(config.secret, headers, body, now)
    elif config.scheme is HookScheme.HMAC:
        verify_hmac_signature(hmac_scheme(config.options), config.secret, headers, body)
    else:
        verify_bearer_token(config.secret, headers)


def hmac_scheme(options: Mapping[str, Any]) -> HmacScheme:
    return HmacScheme(
        header=str(options.get("header", "")), algorithm=options.get("algorithm", "sha256"),
        encoding=options.get("encoding", "hex"), prefix=str(options.get("prefix", "")),
    )  # fmt: skip


def delivery_id(config: EndpointConfig, headers: Mapping[str, str], body: bytes) -> str:
    """The sender's delivery id (GitHub, Standard Webhooks, or the configured header), else the body's hash."""
    name = DELIVERY_HEADERS.get(config.scheme) or config.options.get("delivery_header")
    value = header_value(headers, str(name)) if name else None
    if value and value.strip():
        return value.strip()[:200]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a delivery (for rules and replay); credentials are dropped."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "cookie") or len(kept) >= KEPT_HEADERS_MAX:
            continue
        kept[name] = value[:2000]
    return kept


class EndpointCache:
    """Endpoints by public id for a couple of seconds: most requests read no endpoint row."""

    def __init__(self, box: SecretBox, ttl_s: float = ENDPOINT_CACHE_TTL_S) -> None:
        self.box = box
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, EndpointConfig | None]] = {}

    async def get(self, public_id: str) -> EndpointConfig | None:
        entry = self._entries.get(public_id)
        if entry is not None and time.monotonic() - entry[0] < self.ttl_s:
            return entry[1]
        row = await HookEndpoint.get_or_none(public_id=public_id)
        config = EndpointConfig.load(row, self.box) if row is not None else None
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[public_id] = (time.monotonic(), config)
        return config


class RateLimiter:
    """A per-endpoint fixed one-minute window in Redis, skipped while Redis does not answer."""

    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._skip_until = 0.0

    async def retry_after_s(self, endpoint_id: UUID, limit_per_min: int) -> int | None:
        """Seconds to wait when the endpoint is over its limit; None when the request may go on."""
        if time.monotonic() < self._skip_until:
            return None
        now = time.time()
        key = f"gs:hook:rate:{endpoint_id}:{int(now // 60)}"
        try:
            async with asyncio.timeout(RATE_LIMIT_TIMEOUT_S):
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, 120)
                    count, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError):
            self._skip_until = time.monotonic() + REDIS_BACKOFF_S
            log.warning("rate limit skipped: Redis unavailable")
            return None
        if int(count) <= limit_per_min:
            return None
        return max(1, math.ceil(60 - now % 60))


_RECORD_SQL = """
WITH d AS (
    INSERT INTO hook_deliveries (endpoint_id, delivery_id, headers, body, status, matched, job_ids, received_at)
    VALUES ($1::uuid, $2, $3::jsonb, $4, $5, $6::jsonb, '[]'::jsonb, now())
    ON CONFLICT (endpoint_id, delivery_id) DO NOTHING
    RETURNING id
), o AS (
    INSERT INTO outbox (task, payload, queue, dedupe_key, available_at, attempts, created_at)
    SELECT $7, jsonb_build_object('delivery_id', d.id), $8, 'hook:' || d.id, now(), 0, now() FROM d WHERE $9
    RETURNING id
)
SELECT d.id AS id FROM d
"""


@dataclass(frozen=True)
class Recorded:
    id: int
    status: HookDeliveryStatus
    duplicate: bool


async def record(
    endpoint_id: UUID, sender_id: str, headers: dict[str, str], body: bytes, matched: list[str]
) -> Recorded:
    """Store the delivery and (when a rule matched) its outbox row atomically, in one statement."""
    status = HookDeliveryStatus.RECEIVED if matched else HookDeliveryStatus.IGNORED
    values = [str(endpoint_id), sender_id, json.dumps(headers), body, status.value, json.dumps(matched),
              PROCESS_TASK, HUB_QUEUE, bool(matched)]  # fmt: skip
    db = connections.get("default")
    rows = await db.execute_query_dict(_RECORD_SQL, values)
    if rows:
        return Recorded(int(rows[0]["id"]), status, duplicate=False)
    existing = await db.execute_query_dict(
        "SELECT id, status FROM hook_deliveries WHERE endpoint_id = $1::uuid AND delivery_id = $2",
        [str(endpoint_id), sender_id],
    )
    return Recorded(int(existing[0]["id"]), HookDeliveryStatus(existing[0]["status"]), duplicate=True)


def match(config: EndpointConfig, headers: Mapping[str, str], payload: Any) -> list[str]:
    return [rule.name for rule in matching_rules(list(config.rules), headers, payload)]


class OutboxNudger:
    """Relays the outbox right after accepted deliveries, in batches (one pass per burst); the
    hub worker's relay covers anything this misses (a crash, Redis down)."""

    PAUSE_S = 0.005

    def __init__(self, redis: ArqRedis) -> None:
        self.redis = redis
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        self._wanted.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                sent = await outbox.relay_once(self.redis, horizon_s=0)
            except Exception:
                log.exception("outbox relay after accepting a webhook failed")
                await asyncio.sleep(1.0)
                continue
            if sent >= outbox.RELAY_BATCH:
                self._wanted.set()
            await asyncio.sleep(self.PAUSE_S)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


__all__ = ["EndpointCache", "OutboxNudger", "RateLimiter", "WebhookSignatureError", "record", "verify"]
