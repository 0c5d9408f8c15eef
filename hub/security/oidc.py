"""Checking an OpenID Connect ID token (joserfc): signature through the provider's JWKS, then
``iss``, ``aud`` (a string or a list), ``exp``, ``iat`` and ``nonce``. Pure: the caller fetches the
keys, and asks again with fresh ones on :class:`UnknownKey` (the provider rotated its keys)."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
CLOCK_LEEWAY_S = 60


class IdTokenError(ValueError):
    """The ID token is not acceptable; the message says which check failed (safe to log)."""


class UnknownKey(IdTokenError):
    """The token names a key id the JWKS does not have."""


@dataclass(frozen=True)
class Expected:
    issuer: str
    client_id: str
    nonce: str


def _verify_signature(id_token: str, keys: KeySet) -> dict[str, Any]:
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALLOWED_ALGORITHMS))
    except InvalidKeyIdError as exc:
        raise UnknownKey("the ID token is signed with a key the provider does not publish") from exc
    except (JoseError, ValueError) as exc:
        raise IdTokenError(f"bad ID token signature or format: {type(exc).__name__}") from exc
    return dict(token.claims)


def validate_id_token(id_token: str, keys: KeySet, expected: Expected, *, now_s: int | None = None) -> dict[str, Any]:
    """The verified claims of ``id_token``, or :class:`IdTokenError`."""
    claims = _verify_signature(id_token, keys)
    now = int(time.time()) if now_s is None else now_s
    if claims.get("iss") != expected.issuer:
        raise IdTokenError("wrong issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or expected.client_id not in audiences:
        raise IdTokenError("wrong audience")
    if len(audiences) > 1 and claims.get("azp") not in (None, expected.client_id):
        raise IdTokenError("wrong authorized party (azp)")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp + CLOCK_LEEWAY_S < now:
        raise IdTokenError("expired ID token")
    if isinstance(iat, int | float) and iat - CLOCK_LEEWAY_S > now:
        raise IdTokenError("ID token issued in the future")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), expected.nonce.encode()):
        raise IdTokenError("bad nonce")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenError("no subject")
    return claims


def key_set(jwks: dict[str, Any]) -> KeySet:
    """A joserfc key set from a JWKS document (keys of unknown types are skipped)."""
    usable = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    return KeySet.import_key_set({"keys": usable})
