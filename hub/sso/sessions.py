"""Server-side state of sign-in, in Redis: pending logins (single use, short TTL) and sessions.

The session cookie carries a random id and an HMAC of it; Redis keeps the session under the id's
hash, so neither a stolen Redis dump nor a forged cookie yields a usable session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

LOGIN_TTL_S = 600
LOGIN_PREFIX = "gs:sso:login:"
SESSION_PREFIX = "gs:sso:session:"


@dataclass(frozen=True)
class PendingLogin:
    nonce: str
    code_verifier: str
    link_code: str | None = None


@dataclass(frozen=True)
class Session:
    user_id: str
    tenant_id: str
    id_token: str | None = None  # the sign-in's ID token: the id_token_hint when signing out at the provider


def new_pending(link_code: str | None = None) -> tuple[str, PendingLogin]:
    """A fresh ``state`` and what the callback must find under it."""
    return secrets.token_urlsafe(32), PendingLogin(secrets.token_urlsafe(32), secrets.token_urlsafe(48), link_code)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SessionStore:
    """Pending logins and sessions for one hub application."""

    def __init__(self, redis: Redis, signing_key: str, session_ttl_s: float) -> None:
        self.redis = redis
        self._key = hashlib.sha256(b"garageswarm:session-cookie:" + signing_key.encode()).digest()
        self.session_ttl_s = int(session_ttl_s)

    async def save_pending(self, state: str, pending: PendingLogin) -> None:
        await self.redis.set(LOGIN_PREFIX + _hash(state), json.dumps(asdict(pending)), ex=LOGIN_TTL_S)

    async def take_pending(self, state: str) -> PendingLogin | None:
        """The pending login for ``state``, removed so a replayed callback finds nothing."""
        raw = await self.redis.getdel(LOGIN_PREFIX + _hash(state))
        return PendingLogin(**json.loads(raw)) if raw else None

    def _sign(self, session_id: str) -> str:
        mac = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    async def create(self, session: Session) -> str:
        """Store a session; return the cookie value."""
        session_id = secrets.token_urlsafe(32)
        await self.redis.set(SESSION_PREFIX + _hash(session_id), json.dumps(asdict(session)), ex=self.session_ttl_s)
        return f"{session_id}.{self._sign(session_id)}"

    def _session_id(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        session_id, _, mac = cookie.partition(".")
        return session_id if session_id and hmac.compare_digest(mac, self._sign(session_id)) else None

    async def get(self, cookie: str | None) -> Session | None:
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        raw: Any = await self.redis.get(SESSION_PREFIX + _hash(session_id))
        return Session(**json.loads(raw)) if raw else None

    async def delete(self, cookie: str | None) -> None:
        if (session_id := self._session_id(cookie)) is not None:
            await self.redis.delete(SESSION_PREFIX + _hash(session_id))
