"""API tokens and agent keys: long random secrets with a public lookup prefix, stored hashed.

A key reads ``<kind>_<prefix>_<secret>``: ``gs`` for API tokens, ``gsw`` for agent (worker) keys.
The prefix finds the row; the SHA-256 of the whole key is compared in constant time. The secret
carries 256 bits of entropy, so a fast hash is enough (no password stretching needed)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum


class KeyKind(StrEnum):
    API_TOKEN = "gs"
    WORKER_KEY = "gsw"


_KEY_RE = re.compile(r"^(gs|gsw)_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    kind: KeyKind
    prefix: str
    secret_key: str  # shown once, never stored
    key_hash: str


@dataclass(frozen=True)
class ParsedKey:
    kind: KeyKind
    prefix: str
    raw: str


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_key(kind: KeyKind) -> NewKey:
    prefix = secrets.token_hex(6)
    raw = f"{kind.value}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(kind=kind, prefix=prefix, secret_key=raw, key_hash=hash_key(raw))


def parse_key(raw: str) -> ParsedKey | None:
    """Split a presented key; None when it is not shaped like one of ours."""
    match = _KEY_RE.match(raw)
    if match is None:
        return None
    return ParsedKey(kind=KeyKind(match.group(1)), prefix=match.group(2), raw=raw)


def key_matches(stored_hash: str, presented: ParsedKey) -> bool:
    return hmac.compare_digest(stored_hash, hash_key(presented.raw))


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
