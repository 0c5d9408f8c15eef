"""Inbound webhook verifiers: GitHub, Standard Webhooks, generic HMAC and static bearer tokens.

Pure functions over the raw body and the headers. Every comparison of secret material is constant time.
A request that fails raises ``WebhookSignatureError(reason)``; a verifier configured with an empty or
malformed secret raises ValueError (a configuration error, not a bad request).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

HmacAlgorithm = Literal["sha1", "sha256", "sha512"]
SignatureEncoding = Literal["hex", "base64"]

STANDARD_WEBHOOK_TOLERANCE_S: Final = 300
STANDARD_SECRET_PREFIX: Final = "whsec_"
STANDARD_SIGNATURE_VERSION: Final = "v1"

_ALGORITHMS: Final = frozenset({"sha1", "sha256", "sha512"})
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_UNIX_SECONDS: Final = re.compile(r"[0-9]{1,15}")
_BEARER: Final = re.compile(r"bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)


class WebhookSignatureError(Exception):
    """The request is not authentic (or too old to trust); ``reason`` says why, safe to log and return."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HmacScheme:
    """How a sender signs: the header, hash, encoding and prefix of ``HMAC(secret, raw body)``."""

    header: str
    algorithm: HmacAlgorithm = "sha256"
    encoding: SignatureEncoding = "hex"
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported HMAC algorithm {self.algorithm!r}; use sha1, sha256 or sha512")
        if self.encoding not in ("hex", "base64"):
            raise ValueError(f"unsupported signature encoding {self.encoding!r}; use hex or base64")
        if not self.header:
            raise ValueError("the signature header name must not be empty")


GITHUB_SCHEME: Final = HmacScheme(header="X-Hub-Signature-256", algorithm="sha256", encoding="hex", prefix="sha256=")


def verify_hmac_signature(scheme: HmacScheme, secret: str | bytes, headers: Mapping[str, str], body: bytes) -> None:
    """Check ``scheme.header`` against the HMAC of ``body``; raise WebhookSignatureError if it does not match."""
    key = _secret_bytes(secret)
    value = _required_header(headers, scheme.header)
    if scheme.prefix:
        if not value.startswith(scheme.prefix):
            raise WebhookSignatureError(f"the {scheme.header} header does not start with {scheme.prefix!r}")
        value = value[len(scheme.prefix) :]
    given = _decode_signature(value.strip(), scheme.encoding)
    if given is None:
        raise WebhookSignatureError(f"the {scheme.header} header is not {scheme.encoding}")
    expected = hmac.new(key, body, scheme.algorithm).digest()
    if not hmac.compare_digest(expected, given):
        raise WebhookSignatureError(f"the {scheme.header} signature does not match")


def verify_github_signature(secret: str | bytes, headers: Mapping[str, str], body: bytes) -> None:
    """Check GitHub's ``X-Hub-Signature-256: sha256=<hex>`` over the raw body."""
    verify_hmac_signature(GITHUB_SCHEME, secret, headers, body)


def verify_standard_webhook(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance_s: float = STANDARD_WEBHOOK_TOLERANCE_S,
) -> None:
    """Check a Standard Webhooks request: any valid ``v1`` signature, timestamp within ``tolerance_s`` of ``now``."""
    key = standard_webhook_key(secret)
    msg_id = _required_header(headers, "webhook-id")
    timestamp = _required_header(headers, "webhook-timestamp")
    signatures = _required_header(headers, "webhook-signature")
    _check_timestamp(timestamp, now, tolerance_s)
    expected = _standard_digest(key, msg_id, timestamp, body)
    candidates = [_decode_signature(sig, "base64") for sig in _versioned(signatures, STANDARD_SIGNATURE_VERSION)]
    if not candidates:
        raise WebhookSignatureError(f"the webhook-signature header has no {STANDARD_SIGNATURE_VERSION} signature")
    # Check every candidate so the time taken does not depend on which one matched.
    matches = [given is not None and hmac.compare_digest(expected, given) for given in candidates]
    if not any(matches):
        raise WebhookSignatureError("no webhook-signature matches")


def sign_standard_webhook(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value (``v1,<base64>``) for an outbound Standard Webhooks request."""
    digest = _standard_digest(standard_webhook_key(secret), msg_id, str(int(timestamp)), body)
    return f"{STANDARD_SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def standard_webhook_key(secret: str | bytes) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after an optional ``whsec_``; bytes are the raw key."""
    if isinstance(secret, bytes):
        return _secret_bytes(secret)
    encoded = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        # Some senders drop the base64 padding; add it back (extra padding is ignored by the decoder).
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("the Standard Webhooks secret is not base64 (after an optional 'whsec_')") from None
    return _secret_bytes(key)


def verify_bearer_token(expected_token: str, headers: Mapping[str, str]) -> None:
    """Check ``Authorization: Bearer <token>`` against ``expected_token`` in constant time."""
    if not expected_token:
        raise ValueError("the expected bearer token must not be empty")
    match = _BEARER.fullmatch(_required_header(headers, "Authorization").strip())
    if match is None:
        raise WebhookSignatureError("the Authorization header is not a bearer token")
    # Compare digests so that neither the content nor the length of the token leaks through timing.
    given = hashlib.sha256(match.group(1).encode()).digest()
    if not hmac.compare_digest(hashlib.sha256(expected_token.encode()).digest(), given):
        raise WebhookSignatureError("the bearer token does not match")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively in any mapping (aiohttp's is already; a plain dict is not)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = header_value(headers, name)
    if not value:
        raise WebhookSignatureError(f"the {name} header is missing")
    return value


def _secret_bytes(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the webhook secret must not be empty")
    return key


def _check_timestamp(timestamp: str, now: float, tolerance_s: float) -> None:
    if not (math.isfinite(now) and tolerance_s >= 0):
        raise ValueError("now must be a finite Unix time and tolerance_s zero or more")
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise WebhookSignatureError("the webhook-timestamp header is not a Unix time in seconds")
    sent_at = int(timestamp)
    if sent_at < now - tolerance_s:
        raise WebhookSignatureError("the webhook-timestamp is too old")
    if sent_at > now + tolerance_s:
        raise WebhookSignatureError("the webhook-timestamp is too far in the future")


def _standard_digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def _versioned(header: str, version: str) -> list[str]:
    """The signatures of ``version`` in a space-separated ``version,signature`` list; others are ignored."""
    found = []
    for entry in header.split():
        entry_version, comma, signature = entry.partition(",")
        if comma and entry_version == version:
            found.append(signature)
    return found


def _decode_signature(text: str, encoding: SignatureEncoding) -> bytes | None:
    """Decode a signature strictly; None when it is not valid ``encoding``."""
    if encoding == "hex":
        return bytes.fromhex(text) if len(text) % 2 == 0 and _HEX.fullmatch(text) else None
    if not _BASE64.fullmatch(text) or len(text) % 4:
        return None
    return base64.b64decode(text, validate=True)
