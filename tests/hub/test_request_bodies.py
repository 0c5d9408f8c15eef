"""JSON that Python or Postgres cannot take safely is a 400 with the reason at every JSON door (the REST API,
webhooks, Discord), never a 500, and stores nothing."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.db.models import InboundDelivery, Job
from hub.db.webhook_models import HookDelivery, HookScheme
from hub.services import admin
from hub.settings import Settings
from hub.webhooks import manage
from hub.webhooks.secrets import webhook_box
from tests.conftest import free_port
from tests.discord.support import PUBLIC_KEY
from tests.discord.support import signed as discord_signed
from tests.raw_http import raw_head, raw_status_line

AiohttpClient = Any
HOOK_SECRET = "a-github-secret-for-bodies"
ANY_ARGUMENTS = {"tools": [{"name": "demo.anything", "description": "Takes anything", "input_schema": {}}]}
UNSAFE = [
    (b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),  # RecursionError in json.loads
    (b'{"n": ' + b"7" * 5000 + b"}", "Exceeds the limit (4300 digits)"),  # ValueError in json.loads
    (b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}", "nested deeper than 64 levels"),
    (b'{"text": "a\\u0000b"}', "NUL character"),  # Postgres text and jsonb refuse NUL
    (b'{"text": "\\ud800"}', "unpaired surrogate"),
]


@dataclass(frozen=True)
class Hub:
    client: TestClient
    token: str
    hook_url: str


@pytest.fixture
async def hub(aiohttp_client: AiohttpClient, tmp_path: Any, database_url: str, redis_url: str, orm: None) -> Hub:
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path / "data"), "PORT": str(free_port()), "DISCORD_PUBLIC_KEY": PUBLIC_KEY,
           "GARAGESWARM_SECRET_KEY": "k" * 40}  # fmt: skip
    settings = Settings.from_env(env).with_stores(database_url, redis_url)
    client: TestClient = await aiohttp_client(create_app(settings))
    worker = await admin.add_worker("garage-1", {})
    registered = await client.post("/api/v1/agent/register", json=ANY_ARGUMENTS, headers=_bearer(worker.key))
    assert registered.status == 200
    new = manage.NewEndpoint(name="github", scheme=HookScheme.GITHUB, secret=HOOK_SECRET)
    row, _ = await manage.create_endpoint((await admin.ensure_tenant()).id, webhook_box(settings), new, 600)
    return Hub(client, (await admin.add_token("tests", ["jobs"])).key, f"/hooks/{row.public_id}")


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _job_body(value: bytes) -> bytes:
    return b'{"tool": "demo.anything", "arguments": {"value": ' + value + b"}}"


async def _refused(response: Any, reason: str) -> None:
    answer = await response.json()
    assert response.status == 400 and reason in answer["error"]["message"], answer


@pytest.mark.parametrize(("value", "reason"), UNSAFE)
async def test_unsafe_json_in_a_job_is_a_400_and_creates_no_job(hub: Hub, value: bytes, reason: str) -> None:
    headers = {**_bearer(hub.token), "Content-Type": "application/json"}
    await _refused(await hub.client.post("/api/v1/jobs", data=_job_body(value), headers=headers), reason)
    assert await Job.all().count() == 0


@pytest.mark.parametrize(("body", "reason"), UNSAFE)
async def test_unsafe_json_in_a_signed_webhook_is_a_400_and_stores_nothing(hub: Hub, body: bytes, reason: str) -> None:
    signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-1"}
    await _refused(await hub.client.post(hub.hook_url, data=body, headers=headers), reason)
    assert await HookDelivery.all().count() == 0


@pytest.mark.parametrize(("value", "reason"), UNSAFE)
async def test_unsafe_json_in_a_signed_discord_interaction_is_a_400(hub: Hub, value: bytes, reason: str) -> None:
    body = b'{"type": 2, "id": "1", "token": "t", "data": {"value": ' + value + b"}}"
    await _refused(await hub.client.post("/discord/interactions", data=body, headers=discord_signed(body)), reason)
    assert await InboundDelivery.all().count() == 0


async def test_a_lying_content_length_over_the_limit_is_a_413_before_the_body_is_read(hub: Hub) -> None:
    headers = {**_bearer(hub.token), "Content-Type": "application/json", "Content-Length": str(10**12)}
    status_line = await raw_status_line(hub.client, raw_head("POST", "/api/v1/jobs", headers), b"{}")
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
