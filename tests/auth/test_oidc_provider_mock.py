"""A whole sign-in against an independent OpenID provider: ``oidc-provider-mock`` (authlib's server
in Flask, on a thread), with PKCE, nonce and an ``aud`` list."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

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
