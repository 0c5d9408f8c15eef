"""The inbound ack path: verify a request for its endpoint, bound it, record it, answer.

What happens here is what must happen before answering: verify → rate limit (counted locally,
shared through Redis in the background) → INSERT the delivery → answer. Concurrent requests share
one INSERT statement and one commit (:mod:`hub.db.group_commit`). A stored delivery whose status is
``received`` is the hub worker's work item (``jobs.tasks.webhooks.drain_deliveries``): no Redis and
no job creation on this path, so deliveries are accepted while Redis is down and run when the
worker next looks."""

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

from .rules import Rule, matching_rules

log = logging.getLogger(__name__)
PROCESS_TASK = "process_hook_delivery"
ENDPOINT_CACHE_TTL_S = 2.0
RATE_LIMIT_TIMEOUT_S = 0.25
REDIS_BACKOFF_S = 2.0
KEPT_HEADERS_MAX = 64
DELIVERY_ID_MAX = 200  # hook_deliveries.delivery_id
PUBLIC_ID_MAX = 64  # hook_endpoints.public_id
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


class DeliveryRefused(ValueError):
    """A verified delivery that cannot be stored as it is: a delivery id longer than the column (cutting it
    short would make two ids one), or a header that is not text (bytes outside UTF-8, a NUL)."""


def delivery_id(config: EndpointConfig, headers: Mapping[str, str], body: bytes) -> str:
    """The sender's delivery id (GitHub, Standard Webhooks, or the configured header), else the body's hash;
    DeliveryRefused when the id is longer than the column or is not text."""
    name = DELIVERY_HEADERS.get(config.scheme) or config.options.get("delivery_header")
    value = header_value(headers, str(name)) if name else None
    if not value or not value.strip():
        return "sha256:" + hashlib.sha256(body).hexdigest()
    sender_id = value.strip()
    if len(sender_id) > DELIVERY_ID_MAX:
        raise DeliveryRefused(f"the {name} header is longer than {DELIVERY_ID_MAX} characters")
    return sender_id


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a delivery (for rules and replay); credentials are dropped. DeliveryRefused
    for a header that is not text: aiohttp hands bytes outside UTF-8 on as surrogates, which Postgres refuses
    (and one such row would fail the INSERT shared with the deliveries arriving at the same time)."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if not _is_text(name) or not _is_text(value):
            raise DeliveryRefused(f"the {_printable(name)} header is not UTF-8 text")
        if name.lower() in ("authorization", "cookie") or len(kept) >= KEPT_HEADERS_MAX:
            continue
        kept[name] = value[:2000]
    return kept


def _is_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def _printable(name: str) -> str:
    return name.encode(errors="backslashreplace").decode()[:60]


class EndpointCache:
    """Endpoints by public id for a couple of seconds: most requests read no endpoint row."""

    def __init__(self, box: SecretBox, ttl_s: float = ENDPOINT_CACHE_TTL_S) -> None:
        self.box = box
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, EndpointConfig | None]] = {}

    async def get(self, public_id: str) -> EndpointConfig | None:
        if len(public_id) > PUBLIC_ID_MAX:  # no such endpoint (and the ORM refuses to compare it)
            return None
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
    """Per-endpoint fixed one-minute windows, counted in Redis so every hub instance shares them.

    The ack path makes no Redis round trip: a request is admitted against the last count Redis gave
    plus this process's tally since, and the tally is added to Redis (INCRBY) by a background flush at
    most every ``flush_s``. Several instances may together admit a little over the limit for one flush
    interval. While Redis does not answer, each instance keeps limiting on its own count."""

    def __init__(self, redis: ArqRedis, *, flush_s: float = 0.02) -> None:
        self.redis = redis
        self.flush_s = flush_s
        self._windows: dict[tuple[UUID, int], list[int]] = {}  # (endpoint, minute) → [count in Redis, unsent]
        self._flusher: asyncio.Task[None] | None = None
        self._skip_until = 0.0

    def retry_after_s(self, endpoint_id: UUID, limit_per_min: int, now: float | None = None) -> int | None:
        """Seconds to wait when the endpoint is over its limit; None (and counted) when it may go on."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        counts = self._windows.setdefault((endpoint_id, minute), [0, 0])
        if counts[0] + counts[1] >= limit_per_min:
            return max(1, math.ceil(60 - now % 60))
        counts[1] += 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        return None

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_s)
        current = int(time.time() // 60)
        for key in [key for key in self._windows if key[1] < current - 1]:
            del self._windows[key]
        unsent = [(key, counts[1]) for key, counts in self._windows.items() if counts[1]]
        if not unsent or time.monotonic() < self._skip_until:
            return
        try:
            async with asyncio.timeout(RATE_LIMIT_TIMEOUT_S):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for (endpoint_id, minute), n in unsent:
                        pipe.incrby(f"gs:hook:rate:{endpoint_id}:{minute}", n)
                        pipe.expire(f"gs:hook:rate:{endpoint_id}:{minute}", 120)
                    answers = await pipe.execute()
        except (RedisError, OSError, TimeoutError):
            self._skip_until = time.monotonic() + REDIS_BACKOFF_S
            log.warning("rate limit counted locally: Redis unavailable")
            return
        for (key, n), total in zip(unsent, answers[::2], strict=True):
            counts = self._windows.setdefault(key, [0, 0])
            counts[0], counts[1] = int(total), counts[1] - n

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)


# Every delivery of a batch in one statement: rows whose (endpoint, delivery id) already exist, or
# repeat an earlier row of the same batch, insert nothing and are answered as duplicates.
_RECORD_MANY_SQL = """
INSERT INTO hook_deliveries (endpoint_id, delivery_id, headers, body, status, matched, job_ids, received_at)
SELECT endpoint_id, delivery_id, headers::jsonb, body, status, matched::jsonb, '[]'::jsonb, now()
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[])
     WITH ORDINALITY AS t(endpoint_id, delivery_id, headers, body, status, matched, n)
ORDER BY n
ON CONFLICT (endpoint_id, delivery_id) DO NOTHING
RETURNING id, endpoint_id, delivery_id
"""
_EXISTING_SQL = """
SELECT d.id, d.endpoint_id, d.delivery_id, d.status FROM hook_deliveries d
JOIN unnest($1::uuid[], $2::text[]) AS t(endpoint_id, delivery_id)
  ON d.endpoint_id = t.endpoint_id AND d.delivery_id = t.delivery_id
"""


@dataclass(frozen=True)
class Delivery:
    """What the ack path stores of one request."""

    endpoint_id: UUID
    sender_id: str
    headers: dict[str, str]
    body: bytes
    matched: list[str]

    @property
    def status(self) -> HookDeliveryStatus:
        return HookDeliveryStatus.RECEIVED if self.matched else HookDeliveryStatus.IGNORED


@dataclass(frozen=True)
class Recorded:
    id: int
    status: HookDeliveryStatus
    duplicate: bool


async def record_many(deliveries: list[Delivery]) -> list[Recorded]:
    """Store a batch of deliveries in one statement (one commit); one answer per delivery, in order.
    A stored delivery with status ``received`` is the hub worker's work item: no outbox row needed."""
    db = connections.get("default")
    columns = (
        [str(d.endpoint_id) for d in deliveries], [d.sender_id for d in deliveries],
        [json.dumps(d.headers) for d in deliveries], [d.body for d in deliveries],
        [d.status.value for d in deliveries], [json.dumps(d.matched) for d in deliveries],
    )  # fmt: skip
    inserted = {(str(r["endpoint_id"]), r["delivery_id"]): int(r["id"]) for r in await db.execute_query_dict(
        _RECORD_MANY_SQL, list(columns))}  # fmt: skip
    answers: list[Recorded | None] = []
    for delivery in deliveries:
        row_id = inserted.pop((str(delivery.endpoint_id), delivery.sender_id), None)
        answers.append(None if row_id is None else Recorded(row_id, delivery.status, duplicate=False))
    repeats = [d for d, answer in zip(deliveries, answers, strict=True) if answer is None]
    if repeats:
        rows = await db.execute_query_dict(
            _EXISTING_SQL, [[str(d.endpoint_id) for d in repeats], [d.sender_id for d in repeats]]
        )
        existing = {(str(r["endpoint_id"]), r["delivery_id"]): r for r in rows}
        for index, delivery in enumerate(deliveries):
            if answers[index] is None:
                row = existing[(str(delivery.endpoint_id), delivery.sender_id)]
                answers[index] = Recorded(int(row["id"]), HookDeliveryStatus(row["status"]), duplicate=True)
    return [answer for answer in answers if answer is not None]


def match(config: EndpointConfig, headers: Mapping[str, str], payload: Any) -> list[str]:
    return [rule.name for rule in matching_rules(list(config.rules), headers, payload)]


__all__ = [
    "Delivery", "DeliveryRefused", "EndpointCache", "RateLimiter", "WebhookSignatureError", "record_many", "verify",
]  # fmt: skip
