"""A whole sign-in against an independent OpenID provider: ``oidc-provider-mock`` (authlib's server
in Flask, on a thread), with PKCE, nonce, an ``aud`` list and ``at_hash``; and signing out there too."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from joserfc.jws import extract_compact

from hub.app import create_app
from tests.auth.helpers import sso_settings

AiohttpClient = Any
# The provider's own authlib server code (not the hub) uses deprecated authlib APIs.
pytestmark = [pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated:DeprecationWarning")]  # fmt: skip


@pytest.fixture
def mock_issuer() -> Iterator[str]:
    with warnings.catch_warnings():  # the provider (not the hub) still imports the deprecated authlib.jose
        warnings.simplefilter("ignore", DeprecationWarning)
        import oidc_provider_mock
    users = [oidc_provider_mock.User(sub="grace", claims={"email": "grace@example.com", "name": "Grace",
                                                          "groups": ["swarm-approvers"]})]  # fmt: skip
    with oidc_provider_mock.run_server_in_thread(require_nonce=True, user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


async def test_a_whole_sign_in_with_oidc_provider_mock(
    aiohttp_client: AiohttpClient, tmp_path: Path, database_url: str, redis_url: str, mock_issuer: str, orm: None
) -> None:
    settings = sso_settings(tmp_path, database_url, redis_url, mock_issuer, OIDC_SCOPES="openid email profile")
    hub = await aiohttp_client(create_app(settings))
    started = await hub.get("/auth/login", allow_redirects=False)
    assert started.status == 302
    authorize_url = started.headers["Location"]
    assert "code_challenge_method=S256" in authorize_url and "nonce=" in authorize_url
    async with aiohttp.ClientSession() as browser:  # the consent form: pick the user
        consent = await browser.post(authorize_url, data={"sub": "grace"}, allow_redirects=False)
        assert consent.status == 302, await consent.text()
        back = urlsplit(consent.headers["Location"])
    answer = await hub.get(f"{back.path}?{back.query}", allow_redirects=False)
    assert answer.status == 303, await answer.text()
    me = await (await hub.get("/api/v1/me")).json()
    assert (me["email"], me["display_name"], me["roles"]) == ("grace@example.com", "Grace", ["approver"])
    replay = await hub.get(f"{back.path}?{back.query}", allow_redirects=False)
    assert replay.status == 400


async def test_signing_out_goes_on_to_oidc_provider_mock_s_end_session_endpoint(
    aiohttp_client: AiohttpClient, tmp_path: Path, database_url: str, redis_url: str, mock_issuer: str, orm: None
) -> None:
    settings = sso_settings(tmp_path, database_url, redis_url, mock_issuer)
    hub = await aiohttp_client(create_app(settings))
    started = await hub.get("/auth/login", allow_redirects=False)
    async with aiohttp.ClientSession() as browser:
        consent = await browser.post(started.headers["Location"], data={"sub": "grace"}, allow_redirects=False)
        back = urlsplit(consent.headers["Location"])
        assert (await hub.get(f"{back.path}?{back.query}", allow_redirects=False)).status == 303
        answer = await hub.post("/auth/logout", allow_redirects=False)
        assert answer.status == 303
        location = answer.headers["Location"]
        assert location.startswith(f"{mock_issuer}/oauth2/end_session?")
        hint = dict(parse_qsl(urlsplit(location).query))["id_token_hint"]
        assert "at_hash" in json.loads(extract_compact(hint.encode()).payload), "authlib's provider sends at_hash"
        form = await browser.get(location)
        page = await form.text()
        assert form.status == 200 and "id_token_hint</code> not set" not in page
        assert 'name="redirect_uri" value="http://127.0.0.1:8080/auth/signed-out"' in page
        ended = await browser.post(f"{mock_issuer}/oauth2/end_session/confirm",
                                   data={"redirect_uri": "http://127.0.0.1:8080/auth/signed-out"},
                                   allow_redirects=False)  # fmt: skip
        assert ended.status == 302 and ended.headers["Location"] == "http://127.0.0.1:8080/auth/signed-out"
    assert (await hub.get("/api/v1/me")).status == 401
