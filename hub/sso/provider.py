"""The OpenID provider as seen from the hub: discovery, JWKS (refetched on an unknown key id),
the authorization URL with PKCE S256, state and nonce, the code exchange (the ID token's ``at_hash``
checked against the access token), userinfo (authlib), and the provider's logout URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from hub.security.oidc import Expected, IdTokenError, UnknownKey, key_set, validate_id_token
from hub.settings import Settings
from hub.sso.sessions import PendingLogin

HTTP_TIMEOUT_S = 10.0
DISCOVERY_TTL_S = 3600.0


class ProviderError(Exception):
    """The provider refused or could not be reached; the message is safe to log and show."""


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None


@dataclass(frozen=True)
class Identity:
    """A verified sign-in: ID-token claims completed from userinfo."""

    issuer: str
    claims: dict[str, Any]
    id_token: str  # kept in the session: the id_token_hint of the provider's logout


def half_hash(value: str, alg: str) -> str:
    """OIDC Core 3.1.3.6: base64url of the left half of ``value``'s hash under the ID token's ``alg``."""
    digest = hashlib.sha512 if alg == "EdDSA" else getattr(hashlib, f"sha{alg[2:]}", None)
    if digest is None:
        raise IdTokenError(f"no at_hash algorithm for {alg}")
    hashed = digest(value.encode()).digest()
    return base64.urlsafe_b64encode(hashed[: len(hashed) // 2]).decode().rstrip("=")


def check_at_hash(id_token: str, claims: dict[str, Any], access_token: object) -> None:
    """When the (verified) ID token carries ``at_hash``, it must match the access token it came with."""
    at_hash = claims.get("at_hash")
    if at_hash is None:
        return
    try:
        alg = str(extract_compact(id_token.encode()).protected["alg"])
    except (JoseError, ValueError, KeyError) as exc:
        raise IdTokenError("bad ID token header") from exc
    if not isinstance(access_token, str) or not isinstance(at_hash, str):
        raise IdTokenError("at_hash without an access token")
    if not hmac.compare_digest(at_hash.encode(), half_hash(access_token, alg).encode()):
        raise IdTokenError("at_hash does not match the access token")


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to the query it may already have."""
    parts = urlsplit(url)
    return parts._replace(query=urlencode([*parse_qsl(parts.query), *params.items()])).geturl()


class OidcProvider:
    """One configured provider (``OIDC_ISSUER``); discovery and keys cached in this process."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret.get() if settings.oidc_client_secret else None
        self.scope = settings.oidc_scopes
        self.redirect_uri = settings.hub_url.rstrip("/") + "/auth/callback"
        self.post_logout_redirect_uri = settings.hub_url.rstrip("/") + "/auth/signed-out"
        self._metadata: tuple[float, Metadata] | None = None
        self._keys: KeySet | None = None

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_S,
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
        )

    async def _get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.request("GET", url, withhold_token=True, **kwargs)
        except Exception as exc:  # httpx2 transport errors: the provider is unreachable
            raise ProviderError(f"provider unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderError(f"provider answered {response.status_code} for {url}")
        body = response.json()
        if not isinstance(body, dict):
            raise ProviderError(f"provider answered a non-object for {url}")
        return body

    async def metadata(self) -> Metadata:
        if self._metadata is not None and time.monotonic() - self._metadata[0] < DISCOVERY_TTL_S:
            return self._metadata[1]
        doc = await self._get_json(self.issuer + "/.well-known/openid-configuration")
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:  # OIDC Discovery §4.3
            raise ProviderError("discovery document names another issuer")
        try:
            meta = Metadata(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                userinfo_endpoint=doc.get("userinfo_endpoint"),
                end_session_endpoint=doc.get("end_session_endpoint"),
            )
        except KeyError as exc:
            raise ProviderError(f"discovery document lacks {exc.args[0]}") from None
        self._metadata = (time.monotonic(), meta)
        return meta

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = key_set(await self._get_json((await self.metadata()).jwks_uri))
        return self._keys

    async def authorization_url(self, state: str, pending: PendingLogin) -> str:
        meta = await self.metadata()
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                meta.authorization_endpoint, state=state, code_verifier=pending.code_verifier, nonce=pending.nonce
            )
        return str(url)

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims; on an unknown key id the JWKS is fetched again once (key rotation)."""
        meta = await self.metadata()
        expected = Expected(issuer=meta.issuer, client_id=self.client_id, nonce=nonce)
        try:
            return validate_id_token(id_token, await self._key_set(), expected)
        except UnknownKey:
            return validate_id_token(id_token, await self._key_set(refresh=True), expected)

    async def finish(self, code: str, pending: PendingLogin) -> Identity:
        """Exchange the code (with the PKCE verifier), verify the ID token, complete from userinfo."""
        meta = await self.metadata()
        async with self._client() as client:
            try:
                token = await client.fetch_token(
                    meta.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                    redirect_uri=self.redirect_uri,
                )
            except Exception as exc:  # authlib raises OAuthError subclasses and transport errors
                raise ProviderError(f"code exchange refused: {getattr(exc, 'error', type(exc).__name__)}") from exc
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise IdTokenError("the token response has no ID token")
            claims = await self.verify(id_token, pending.nonce)
            check_at_hash(id_token, claims, token.get("access_token"))
            if meta.userinfo_endpoint and not ({"email", "name"} <= claims.keys()):
                claims = {**await self._userinfo(client, meta.userinfo_endpoint, claims["sub"]), **claims}
        return Identity(issuer=meta.issuer, claims=claims, id_token=id_token)

    async def end_session_url(self, id_token: str) -> str | None:
        """Where to send the browser to sign out at the provider too (RP-initiated logout), when it can."""
        endpoint = (await self.metadata()).end_session_endpoint
        if not endpoint:
            return None
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": self.post_logout_redirect_uri,
                  "client_id": self.client_id}  # fmt: skip
        return with_query(endpoint, params)

    async def _userinfo(self, client: AsyncOAuth2Client, url: str, subject: str) -> dict[str, Any]:
        try:
            response = await client.get(url)
        except Exception as exc:
            raise ProviderError(f"userinfo unreachable: {type(exc).__name__}") from exc
        info = response.json() if response.status_code == 200 else None
        if not isinstance(info, dict) or info.get("sub") != subject:  # OIDC Core §5.3.2
            raise ProviderError("userinfo refused or names another subject")
        return info
