"""Sign-in fixtures: a local OpenID provider (``tests/fakes/oidc_provider.py``) and a hub configured for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import create_app
from tests.auth.helpers import CLIENT_ID, CLIENT_SECRET, sso_settings
from tests.fakes.oidc_provider import OidcProviderFake

AiohttpClient = Any


@pytest.fixture
async def provider(aiohttp_server: Any) -> OidcProviderFake:
    fake = OidcProviderFake(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    server = await aiohttp_server(fake.app())
    fake.issuer = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
async def hub(
    aiohttp_client: AiohttpClient, tmp_path: Path, database_url: str, redis_url: str, provider: OidcProviderFake,
    orm: None,
) -> TestClient:  # fmt: skip
    return await aiohttp_client(create_app(sso_settings(tmp_path, database_url, redis_url, provider.issuer)))
