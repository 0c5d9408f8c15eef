"""Signing out ends our session and, when the provider publishes an ``end_session_endpoint``, goes on to
sign out there too (RP-initiated logout) with the sign-in's ID token as the hint."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp.test_utils import TestClient

from hub.db.auth_models import AuditEntry
from tests.auth.helpers import CLIENT_ID, sign_in
from tests.fakes.oidc_provider import OidcProviderFake

SIGNED_OUT = "http://127.0.0.1:8080/auth/signed-out"  # GARAGESWARM_HUB_URL's default + /auth/signed-out


async def test_without_a_provider_logout_signing_out_answers_here(hub: TestClient, provider: OidcProviderFake) -> None:
    await sign_in(hub)
    answer = await hub.post("/auth/logout", allow_redirects=False)
    assert answer.status == 200 and await answer.json() == {"signed_out": True}
    assert (await hub.get("/api/v1/me")).status == 401


async def test_signing_out_goes_on_to_the_provider_with_the_id_token_hint(
    hub: TestClient, provider: OidcProviderFake
) -> None:
    provider.end_session, provider.post_logout_redirect_uris = True, (SIGNED_OUT,)
    await sign_in(hub)
    kept = hub.session.cookie_jar.filter_cookies(hub.make_url("/"))["gs_session"].value
    answer = await hub.post("/auth/logout", allow_redirects=False)
    assert answer.status == 303 and answer.headers["Cache-Control"] == "no-store"
    assert 'gs_session=""' in answer.headers["Set-Cookie"]
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/logout"
    params = dict(parse_qsl(location.query))
    assert params.keys() == {"id_token_hint", "post_logout_redirect_uri", "client_id"}
    assert (params["post_logout_redirect_uri"], params["client_id"]) == (SIGNED_OUT, CLIENT_ID)
    hub.session.cookie_jar.update_cookies({"gs_session": kept})
    assert (await hub.get("/api/v1/me")).status == 401, "our session ended before the redirect"
    assert [e.action for e in await AuditEntry.all().order_by("id")] == ["login", "logout"]

    async with aiohttp.ClientSession() as browser:  # the provider checks the hint and sends the browser back
        at_provider = await browser.get(answer.headers["Location"], allow_redirects=False)
        assert at_provider.status == 302 and at_provider.headers["Location"] == SIGNED_OUT
    assert provider.ended_sessions == ["ada-1"]
    page = await hub.get("/auth/signed-out")
    assert page.status == 200 and "signed out" in await page.text()


async def test_signing_out_without_a_session_stays_here(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.end_session = True
    await sign_in(hub)
    hub.session.cookie_jar.clear()
    answer = await hub.post("/auth/logout", allow_redirects=False)
    assert answer.status == 200 and await answer.json() == {"signed_out": True}
    assert provider.ended_sessions == []
