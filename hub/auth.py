"""Who is calling: API tokens for people and automation, agent keys for agents. Neither can act
as the other: each door asks for exactly one kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web

from .db.models import ApiToken, Worker
from .errors import Unauthorized
from .security.keys import KeyKind, bearer, key_matches, parse_key


@dataclass(frozen=True)
class Caller:
    """An authenticated API caller."""

    tenant_id: UUID
    token_id: UUID
    user_id: UUID | None
    name: str
    scopes: tuple[str, ...]


def _presented(request: web.Request, kind: KeyKind) -> str:
    raw = bearer(request.headers.get("Authorization"))
    if raw is None:
        raise Unauthorized("missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    parsed = parse_key(raw)
    if parsed is None or parsed.kind is not kind:
        raise Unauthorized("invalid token for this endpoint", headers={"WWW-Authenticate": "Bearer"})
    return parsed.prefix


async def authenticate_caller(request: web.Request) -> Caller:
    """The API token's owner, or 401."""
    prefix = _presented(request, KeyKind.API_TOKEN)
    token = await ApiToken.get_or_none(prefix=prefix)
    parsed = parse_key(bearer(request.headers.get("Authorization")) or "")
    if token is None or parsed is None or not key_matches(token.token_hash, parsed):
        raise Unauthorized("invalid token", headers={"WWW-Authenticate": "Bearer"})
    now = datetime.now(UTC)
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise Unauthorized("token expired or revoked", headers={"WWW-Authenticate": "Bearer"})
    return Caller(
        tenant_id=token.tenant_id,  # type: ignore[attr-defined]
        token_id=token.id,
        user_id=token.user_id,  # type: ignore[attr-defined]
        name=token.name,
        scopes=tuple(token.scopes),
    )


async def authenticate_worker(request: web.Request) -> Worker:
    """The agent presenting its key, or 401."""
    prefix = _presented(request, KeyKind.WORKER_KEY)
    worker = await Worker.get_or_none(api_key_prefix=prefix)
    parsed = parse_key(bearer(request.headers.get("Authorization")) or "")
    if worker is None or parsed is None or not key_matches(worker.api_key_hash, parsed):
        raise Unauthorized("invalid agent key", headers={"WWW-Authenticate": "Bearer"})
    return worker
