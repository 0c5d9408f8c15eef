"""A small, strict OpenID provider (an aiohttp app) for sign-in tests: discovery, JWKS, authorize
(consents at once for ``user``), token (client secret, single-use codes, PKCE S256 checked; the ID token
carries ``at_hash``), userinfo and, with ``end_session``, RP-initiated logout (``/logout``: the
``id_token_hint`` must be one of our ID tokens for the client, the redirect one the client registered).

Knobs let a test make it misbehave the way an attacker or a broken provider would: ``id_token_claims``
overrides claims of the next ID tokens (wrong ``iss``, ``aud``, ``exp``, ``nonce``), ``sign_with`` signs
with a key the JWKS does not publish, ``rotate()`` replaces the signing key, ``iss_param`` sets the
RFC 9207 ``iss`` parameter of the redirect (None: omitted), ``id_token_claims={"at_hash": ...}``
tampers with the access token's hash.

    fake = OidcProviderFake(client_id="hub", client_secret="s3cret")
    server = await aiohttp_server(fake.app())
    fake.issuer = str(server.make_url("")).rstrip("/")
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ID_TOKEN_TTL_S = 300
USE_ISSUER = object()  # iss_param default: the provider's issuer


def at_hash(access_token: str) -> str:
    """OIDC Core 3.1.3.6 for RS256: base64url of the left half of the SHA-256 of the access token."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def new_key(kid: str | None = None) -> RSAKey:
    """An RS256 signing key (a fresh key id unless ``kid`` is given)."""
    params = {"kid": kid or secrets.token_hex(4), "use": "sig", "alg": "RS256"}
    return RSAKey.generate_key(2048, parameters=params)  # type: ignore[arg-type]


@dataclass
class OidcProviderFake:
    client_id: str
    client_secret: str
    issuer: str = ""
    user: dict[str, Any] = field(
        default_factory=lambda: {"sub": "ada-1", "email": "ada@example.com", "name": "Ada", "groups": []}
    )
    id_token_only: tuple[str, ...] = ("sub",)  # claims in the ID token; the rest only from userinfo
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    sign_with: RSAKey | None = None
    iss_param: Any = USE_ISSUER
    keys: list[RSAKey] = field(default_factory=lambda: [new_key()])
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0
    jwks_requests: int = 0
    end_session: bool = False  # publish an end_session_endpoint
    post_logout_redirect_uris: tuple[str, ...] = ()  # registered by the client; empty: any
    ended_sessions: list[str] = field(default_factory=list)  # subjects signed out at /logout

    def rotate(self) -> None:
        """A new signing key; the JWKS publishes only it from now on."""
        self.keys = [new_key()]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/userinfo", self._userinfo)
        app.router.add_get("/logout", self._logout)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"], "authorization_response_iss_parameter_supported": True,
            **({"end_session_endpoint": f"{self.issuer}/logout"} if self.end_session else {}),
        })  # fmt: skip

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        return web.json_response(KeySet(list(self.keys)).as_dict(private=False))

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            raise web.HTTPBadRequest(text="unknown client or response type")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            raise web.HTTPBadRequest(text="PKCE S256 is required")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**q, "user": dict(self.user)}  # the person who consented
        params = {"code": code, "state": q.get("state", "")}
        iss = self.issuer if self.iss_param is USE_ISSUER else self.iss_param
        if iss is not None:
            params["iss"] = iss
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(params)}")

    def _client_ok(self, request: web.Request, form: Any) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return bool(client_id == self.client_id and secret == self.client_secret)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if not self._client_ok(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        code = str(form.get("code", ""))
        grant = self.codes.get(code)
        if grant is None or code in self.used_codes or form.get("redirect_uri") != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        self.used_codes.add(code)
        digest = hashlib.sha256(str(form.get("code_verifier", "")).encode()).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != grant["code_challenge"]:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        access_token = secrets.token_urlsafe(16)
        user: dict[str, Any] = grant["user"]
        self.access_tokens[access_token] = user
        now = int(time.time())
        claims = {k: v for k, v in user.items() if k in self.id_token_only}
        claims.update(iss=self.issuer, aud=self.client_id, iat=now, exp=now + ID_TOKEN_TTL_S)
        if grant.get("nonce"):
            claims["nonce"] = grant["nonce"]
        claims["at_hash"] = at_hash(access_token)
        claims.update(self.id_token_claims)
        key = self.sign_with or self.keys[0]
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return web.json_response({"access_token": access_token, "token_type": "Bearer", "expires_in": 300,
                                  "id_token": id_token})  # fmt: skip

    async def _logout(self, request: web.Request) -> web.Response:
        if not self.end_session:
            raise web.HTTPNotFound()
        q = request.query
        try:
            hint = jwt.decode(q.get("id_token_hint", ""), KeySet(list(self.keys)), algorithms=["RS256"])
        except (JoseError, ValueError):
            raise web.HTTPBadRequest(text="id_token_hint is not one of our ID tokens") from None
        if hint.claims.get("aud") != self.client_id or q.get("client_id", self.client_id) != self.client_id:
            raise web.HTTPBadRequest(text="id_token_hint is for another client")
        back = q.get("post_logout_redirect_uri")
        if back is not None and self.post_logout_redirect_uris and back not in self.post_logout_redirect_uris:
            raise web.HTTPBadRequest(text="post_logout_redirect_uri not registered")
        self.ended_sessions.append(str(hint.claims["sub"]))
        if back is None:
            return web.Response(text="signed out")
        raise web.HTTPFound(back)

    async def _userinfo(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.access_tokens:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response(self.access_tokens[token])
