"""Who is calling: API tokens for people and automation, agent keys for agents. Neither can act
as the other: each door asks for exactly one kind.

Verified keys are remembered for a few seconds (by their hash, never the key itself), so the hot
agent paths do not read the key row on every report; a revoked key stops working within that TTL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web

from .db.models import ApiToken, Worker
from .errors import Unauthorized
from .security.keys import KeyKind, ParsedKey, bearer, hash_key, key_matches, parse_key

KEY_CACHE_TTL_S = 5.0
KEY_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Caller:
    """An authenticated API caller."""

    tenant_id: UUID
    token_id: UUID
    user_id: UUID | None
    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Agent:
    """An authenticated agent (a registered worker)."""

    id: UUID
    tenant_id: UUID
    name: str


class KeyCache:
    """Recently verified keys, by key hash, for ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = KEY_CACHE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Caller | Agent]] = {}

    def get(self, key_hash: str) -> Caller | Agent | None:
        entry = self._entries.get(key_hash)
        if entry is None or time.monotonic() - entry[0] > self.ttl_s:
            return None
        return entry[1]

    def put(self, key_hash: str, identity: Caller | Agent) -> None:
        if len(self._entries) >= KEY_CACHE_MAX:
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic(), identity)

    def clear(self) -> None:
        """Forget every verified key (after a revocation)."""
        self._entries.clear()


AUTH_CACHE = web.AppKey("auth_cache", KeyCache)


def _presented(request: web.Request, kind: KeyKind) -> ParsedKey:
    raw = bearer(request.headers.get("Authorization"))
    if raw is None:
        raise Unauthorized("missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    parsed = parse_key(raw)
    if parsed is None or parsed.kind is not kind:
        raise Unauthorized("invalid token for this endpoint", headers={"WWW-Authenticate": "Bearer"})
    return parsed


async def authenticate_caller(request: web.Request) -> Caller:
    """The API token's owner, or 401."""
    parsed = _presented(request, KeyKind.API_TOKEN)
    key_hash = hash_key(parsed.raw)
    cached = request.app[AUTH_CACHE].get(key_hash)
    if isinstance(cached, Caller):
        return cached
    token = await ApiToken.get_or_none(prefix=parsed.prefix)
    if token is None or not key_matches(token.token_hash, parsed):
        raise Unauthorized("invalid token", headers={"WWW-Authenticate": "Bearer"})
    now = datetime.now(UTC)
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise Unauthorized("token expired or revoked", headers={"WWW-Authenticate": "Bearer"})
    caller = Caller(
        tenant_id=token.tenant_id,  # type: ignore[attr-defined]
        token_id=token.id,
        user_id=token.user_id,  # type: ignore[attr-defined]
        name=token.name,
        scopes=tuple(token.scopes),
    )
    request.app[AUTH_CACHE].put(key_hash, caller)
    return caller


async def authenticate_agent(request: web.Request) -> Agent:
    """The agent presenting its key, or 401."""
    parsed = _presented(request, KeyKind.WORKER_KEY)
    key_hash = hash_key(parsed.raw)
    cached = request.app[AUTH_CACHE].get(key_hash)
    if isinstance(cached, Agent):
        return cached
    worker = await Worker.get_or_none(api_key_prefix=parsed.prefix).only("id", "tenant_id", "name", "api_key_hash")
    if worker is None or not key_matches(worker.api_key_hash, parsed):
        raise Unauthorized("invalid agent key", headers={"WWW-Authenticate": "Bearer"})
    agent = Agent(id=worker.id, tenant_id=worker.tenant_id, name=worker.name)  # type: ignore[attr-defined]
    request.app[AUTH_CACHE].put(key_hash, agent)
    return agent


async def authenticate_worker(request: web.Request) -> Worker:
    """The agent's full worker row (for registration and heart-beats), or 401."""
    agent = await authenticate_agent(request)
    worker = await Worker.get_or_none(id=agent.id)
    if worker is None:
        raise Unauthorized("invalid agent key", headers={"WWW-Authenticate": "Bearer"})
    return worker
