"""Driving a sign-in as a browser would: the hub → the provider (consents at once) → the hub."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
from aiohttp.test_utils import TestClient

from hub.settings import Settings
from tests.conftest import free_port

CLIENT_ID = "garageswarm-hub"
CLIENT_SECRET = "hub-client-secret"
ROLE_MAP = "swarm-admins=admin,swarm-ops=operator:demo.*,swarm-approvers=approver,swarm-all=viewer"


def sso_settings(tmp_path: Path, database_url: str, redis_url: str, issuer: str, **extra: str) -> Settings:
    env = {
        "GARAGESWARM_DATA_DIR": str(tmp_path / "data"), "PORT": str(free_port()),
        "GARAGESWARM_SECRET_KEY": "k" * 40, "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET, "OIDC_ROLE_MAP": ROLE_MAP, **extra,
    }  # fmt: skip
    return Settings.from_env(env).with_stores(database_url, redis_url)


@dataclass
class Redirect:
    """The provider's redirect back to the hub, as the browser would follow it."""

    path_qs: str

    @property
    def state(self) -> str:
        return dict(parse_qsl(self.path_qs.partition("?")[2]))["state"]

    def with_params(self, **params: str) -> str:
        path, _, query = self.path_qs.partition("?")
        merged = dict(parse_qsl(query))
        merged.update(params)
        return f"{path}?{urlencode(merged)}"


async def authorize(hub: TestClient, start: str = "/auth/login") -> Redirect:
    """Start a sign-in at the hub and let the provider consent: the callback URL it redirects to."""
    started = await hub.get(start, allow_redirects=False)
    assert started.status == 302, await started.text()
    async with aiohttp.ClientSession() as browser:
        consent = await browser.get(started.headers["Location"], allow_redirects=False)
        assert consent.status == 302, await consent.text()
        back = urlsplit(consent.headers["Location"])
    return Redirect(f"{back.path}?{back.query}")


async def sign_in(hub: TestClient, start: str = "/auth/login") -> aiohttp.ClientResponse:
    """A whole sign-in; the hub's answer to the callback (303 and a session cookie when it worked)."""
    redirect = await authorize(hub, start)
    return await hub.get(redirect.path_qs, allow_redirects=False)
