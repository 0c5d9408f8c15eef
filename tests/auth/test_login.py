"""Sign-in through a local OpenID provider: a whole login, and each attack refused."""

from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from hub.db.auth_models import AuditEntry, OidcAccount
from hub.sso.sessions import LOGIN_PREFIX
from tests.auth.helpers import authorize, sign_in
from tests.fakes.oidc_provider import OidcProviderFake, new_key


async def test_a_whole_sign_in_starts_a_session_that_me_answers(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.user = {"sub": "ada-1", "email": "ada@example.com", "name": "Ada", "groups": ["swarm-ops"]}
    answer = await sign_in(hub)
    assert answer.status == 303 and answer.headers["Location"] == "/api/v1/me"
    cookie = next(c for c in answer.headers.getall("Set-Cookie") if c.startswith("gs_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http://127.0.0.1 hub
    me = await hub.get("/api/v1/me")
    assert me.status == 200
    body = await me.json()
    del body["id"]
    assert body == {"email": "ada@example.com", "display_name": "Ada", "roles": ["operator"],
                    "tool_patterns": ["demo.*"], "chat_identities": []}  # fmt: skip
    assert await OidcAccount.filter(subject="ada-1", groups=["swarm-ops"]).count() == 1
    assert [e.action for e in await AuditEntry.all()] == ["login"]


async def test_me_is_401_without_a_session_or_with_a_forged_cookie(hub: TestClient) -> None:
    assert (await hub.get("/api/v1/me")).status == 401
    hub.session.cookie_jar.update_cookies({"gs_session": "forged.c2lnbmF0dXJl"})
    response = await hub.get("/api/v1/me")
    assert response.status == 401 and (await response.json())["error"]["code"] == "unauthorized"


async def test_logout_ends_the_session(hub: TestClient, provider: OidcProviderFake) -> None:
    await sign_in(hub)
    cookie = hub.session.cookie_jar.filter_cookies(hub.make_url("/"))["gs_session"].value
    assert (await hub.post("/auth/logout")).status == 200
    hub.session.cookie_jar.update_cookies({"gs_session": cookie})  # a copy kept by an attacker
    assert (await hub.get("/api/v1/me")).status == 401


async def test_a_second_sign_in_is_the_same_person(hub: TestClient, provider: OidcProviderFake) -> None:
    await sign_in(hub)
    first = (await (await hub.get("/api/v1/me")).json())["id"]
    await sign_in(hub)
    assert (await (await hub.get("/api/v1/me")).json())["id"] == first


async def test_a_rotated_provider_key_is_fetched_again(hub: TestClient, provider: OidcProviderFake) -> None:
    assert (await sign_in(hub)).status == 303
    provider.rotate()
    assert (await sign_in(hub)).status == 303
    assert provider.jwks_requests == 2


@pytest.mark.parametrize(
    ("claims", "reason"),
    [({"iss": "https://evil.example"}, "wrong issuer"), ({"aud": "another-client"}, "wrong audience"),
     ({"aud": ["another-client", "third"]}, "wrong audience"),
     ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}, "expired ID token"),
     ({"nonce": "replayed-nonce"}, "bad nonce"),
     ({"at_hash": "h8Ycq0v9c0QPCFjPyJ3hRg"}, "at_hash does not match the access token")],
)  # fmt: skip
async def test_a_bad_id_token_is_refused(
    hub: TestClient, provider: OidcProviderFake, claims: dict[str, object], reason: str
) -> None:
    provider.id_token_claims = claims
    answer = await sign_in(hub)
    assert answer.status == 401
    assert reason in (await answer.json())["error"]["message"]
    assert "Set-Cookie" not in answer.headers
    assert (await hub.get("/api/v1/me")).status == 401
    failed = await AuditEntry.get(action="login_failed")
    assert reason in failed.data["reason"] and failed.actor == "anonymous"


async def test_an_audience_list_naming_the_hub_is_accepted(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.id_token_claims = {"aud": ["garageswarm-hub"]}
    assert (await sign_in(hub)).status == 303


async def test_a_key_not_in_the_jwks_is_refused(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.sign_with = new_key()
    answer = await sign_in(hub)
    assert answer.status == 401
    assert "key the provider does not publish" in (await answer.json())["error"]["message"]


async def test_a_forged_signature_with_a_published_kid_is_refused(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.sign_with = new_key(kid=provider.keys[0].kid)
    answer = await sign_in(hub)
    assert answer.status == 401 and "signature" in (await answer.json())["error"]["message"]


async def test_a_replayed_callback_is_refused(hub: TestClient, provider: OidcProviderFake) -> None:
    redirect = await authorize(hub)
    assert (await hub.get(redirect.path_qs, allow_redirects=False)).status == 303
    hub.session.cookie_jar.clear()
    replay = await hub.get(redirect.path_qs, allow_redirects=False)
    assert replay.status == 400 and (await hub.get("/api/v1/me")).status == 401


async def test_a_used_code_with_a_fresh_state_is_refused_by_the_provider(
    hub: TestClient, provider: OidcProviderFake
) -> None:
    used = await authorize(hub)
    assert (await hub.get(used.path_qs, allow_redirects=False)).status == 303
    hub.session.cookie_jar.clear()
    fresh = await authorize(hub)
    code = dict(p.split("=", 1) for p in used.path_qs.split("?", 1)[1].split("&"))["code"]
    answer = await hub.get(fresh.with_params(code=code), allow_redirects=False)
    assert answer.status == 401 and "invalid_grant" in (await answer.json())["error"]["message"]


async def test_a_tampered_state_is_refused(hub: TestClient, provider: OidcProviderFake) -> None:
    redirect = await authorize(hub)
    answer = await hub.get(redirect.with_params(state="attacker-state"), allow_redirects=False)
    assert answer.status == 400
    assert provider.token_requests == 0, "the code must not be spent on an unknown state"


async def test_a_pending_login_expires(hub: TestClient, provider: OidcProviderFake, redis_url: str) -> None:
    redirect = await authorize(hub)
    redis = Redis.from_url(redis_url)
    keys = await redis.keys(LOGIN_PREFIX + "*")
    assert len(keys) == 1 and 0 < await redis.ttl(keys[0]) <= 600
    await redis.delete(*keys)  # what the TTL does after ten minutes
    await redis.aclose()
    assert (await hub.get(redirect.path_qs, allow_redirects=False)).status == 400


async def test_a_mixed_up_issuer_in_the_redirect_is_refused(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.iss_param = "https://other-provider.example"
    answer = await sign_in(hub)
    assert answer.status == 401 and "wrong issuer" in (await answer.json())["error"]["message"]
    assert provider.token_requests == 0


async def test_a_redirect_without_iss_is_accepted(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.iss_param = None
    assert (await sign_in(hub)).status == 303


async def test_claims_missing_from_the_id_token_come_from_userinfo(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.id_token_only = ("sub",)
    provider.user = {"sub": "bo-2", "email": "bo@example.com", "name": "Bo"}
    await sign_in(hub)
    body = await (await hub.get("/api/v1/me")).json()
    assert (body["email"], body["display_name"]) == ("bo@example.com", "Bo")


async def test_a_provider_error_is_refused_and_audited(hub: TestClient) -> None:
    started = await hub.get("/auth/login", allow_redirects=False)
    state = dict(p.split("=", 1) for p in started.headers["Location"].split("?", 1)[1].split("&"))["state"]
    answer = await hub.get(f"/auth/callback?error=access_denied&state={state}", allow_redirects=False)
    assert answer.status == 401
    assert (await AuditEntry.get(action="login_failed")).data["reason"] == "provider error: access_denied"


async def test_a_callback_replayed_in_another_browser_is_refused(hub: TestClient, provider: OidcProviderFake) -> None:
    redirect = await authorize(hub)  # an attacker's own sign-in, stopped at the callback
    hub.session.cookie_jar.clear()  # ...whose URL is opened in the victim's browser (login CSRF)
    answer = await hub.get(redirect.path_qs, allow_redirects=False)
    assert answer.status == 400 and "not started here" in (await answer.json())["error"]["message"]
    assert provider.token_requests == 0 and (await hub.get("/api/v1/me")).status == 401
