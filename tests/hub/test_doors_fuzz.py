"""Every inbound route of the hub, attacked: malformed bodies, headers, encodings, sizes and credentials —
signed and unsigned — never get a 5xx or a stack trace, a refusal changes nothing, and the hub stays healthy.

The routes are read from the application's router, so a route added later is fuzzed without touching this file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from tortoise import connections

from hub.app import create_app
from hub.db.webhook_models import HookScheme
from hub.security.webhooks import sign_standard_webhook
from hub.services import admin
from hub.webhooks import manage
from hub.webhooks.secrets import webhook_box
from tests.auth.helpers import CLIENT_ID, CLIENT_SECRET, sso_settings
from tests.discord.support import PUBLIC_KEY
from tests.discord.support import signed as discord_signed
from tests.fakes.oidc_provider import OidcProviderFake
from tests.raw_http import raw_head, raw_status_line

AiohttpClient = Any
SLACK_SECRET = "fuzz-signing-secret-0123456789abcdef"
BODY_LIMIT = 16 * 1024
HOOK_SECRETS = {
    HookScheme.GITHUB: "github-secret-for-fuzzing", HookScheme.STANDARD: "whsec_" + "QUJD" * 8,
    HookScheme.HMAC: "hmac-secret-for-fuzzing", HookScheme.BEARER: "bearer-token-for-fuzzing",
}  # fmt: skip
HMAC_OPTIONS = {"header": "X-Signature", "algorithm": "sha256", "encoding": "base64", "delivery_header": "X-Id"}
CONTENT_TYPES = (
    "application/json", "application/x-www-form-urlencoded", "text/plain", "application/json; charset=bogus",
    "application/json; charset=latin-1", "multipart/form-data; boundary=x", "application/vnd.x+json", "",
)  # fmt: skip
# The tables a door writes: nothing may appear in them when a request is refused.
DOOR_TABLES = ("inbound_deliveries", "outbox", "jobs", "job_events", "hook_deliveries", "hook_endpoints")
COUNT_SQL = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in DOOR_TABLES)  # noqa: S608  # constants


def _deep(opening: bytes, closing: bytes, depth: int = 5000) -> bytes:
    return opening * depth + closing * depth


NASTY_BODIES: tuple[bytes, ...] = (
    b"", b"\xff\xfe\x00\x81", b"{", b"[]", b"1", b'"text"', b"null", b"true", b"{}", b"1" * 5000,
    _deep(b"[", b"]"), _deep(b'{"a":', b"}")[:-1] + b"1}", b'{"type": 1e999}', b'{"\\ud800": "\\u0000"}',
    b"payload=%7B", b"payload=%5B1%5D", b"payload=not+json", b"payload=" + b"%5B" * 3000, b"ssl_check=1",
    b"command=/swarm&text=%FF%FE", b"a=" + b"b" * (BODY_LIMIT + 10),
    b'{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{"type":"app_mention","channel":{"id":"C1"},'
    b'"user":"U1","text":"<@U0> hi","ts":"1.2"}}',
    b'{"type":"event_callback","event":[]}', b'{"type":"url_verification","challenge":{"x":1}}',
    b"payload=" + json.dumps({"type": "block_actions", "user": "U1", "actions": {"a": 1}}).encode(),
    b'{"type":2,"id":{},"data":[],"member":"x"}', b'{"type":3,"data":{"custom_id":7},"member":{"user":[]}}',
    b'{"type":4,"data":{"name":"swarm","options":"x"}}', b'{"type":2,"guild_id":{"a":1}}', b'{"type":true}',
    b'{"type":[]}', b'{"type":{"a":1}}', b'{"tool":"demo.echo","arguments":{"a":' + _deep(b"[", b"]", 60) + b"}}",
)  # fmt: skip
NASTY_QUERIES = ("", "?limit=abc", "?limit=-1&status=nope", "?status=%00", "?before=not-a-uuid", "?action=%FF",
                 "?code=x&state=y", "?error=" + "e" * 500, "?restarted=%00&x=" + "%5B" * 200)  # fmt: skip
PATH_VALUES = (
    "hk_" + "a" * 300,
    "x",
    "00000000-0000-0000-0000-000000000000",
    "%00",
    "%FF%FE",
    "..",
    "9" * 40,
    "a" * 300,
    "1.5",
)


@dataclass
class Hub:
    """The hub under attack, the credentials each door takes and the refusals seen so far."""

    client: TestClient
    api_token: str
    agent_key: str
    endpoints: dict[str, HookScheme] = field(default_factory=dict)  # public id → scheme
    routes: list[tuple[str, str]] = field(default_factory=list)  # (method, path template)
    rows: dict[str, int] = field(default_factory=dict)  # the door tables' row counts after the last request
    accepted_hooks: int = 0


def inbound_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every route of the application (HEAD and OPTIONS are aiohttp's own)."""
    routes = client.server.app.router.routes()  # type: ignore[union-attr]
    found = {(r.method, r.resource.canonical) for r in routes if r.method not in ("HEAD", "OPTIONS") and r.resource}
    return sorted(found)


@pytest.fixture
async def hub(
    aiohttp_client: AiohttpClient, aiohttp_server: Any, tmp_path: Path, database_url: str, redis_url: str, orm: None
) -> Hub:
    provider = OidcProviderFake(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    provider.issuer = str((await aiohttp_server(provider.app())).make_url("")).rstrip("/")
    env = {
        "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_BOT_TOKEN": "xoxb-fuzz", "SLACK_API_URL": "http://127.0.0.1:9/",
        "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "fuzz-client-secret", "DISCORD_PUBLIC_KEY": PUBLIC_KEY,
        "DISCORD_APPLICATION_ID": "1200000000000000001", "GARAGESWARM_MAX_REQUEST_BYTES": str(BODY_LIMIT),
        "GARAGESWARM_WEBHOOK_MAX_BYTES": str(BODY_LIMIT), "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    settings = sso_settings(tmp_path, database_url, redis_url, provider.issuer, **env)
    client = await aiohttp_client(create_app(settings))
    tenant = await admin.ensure_tenant()
    hub = Hub(client, (await admin.add_token("fuzz", ["jobs"])).key, (await admin.add_worker("fuzz-1", {})).key)
    for scheme, secret in HOOK_SECRETS.items():
        options = HMAC_OPTIONS if scheme is HookScheme.HMAC else {}
        new = manage.NewEndpoint(name=f"fuzz-{scheme.value}", scheme=scheme, secret=secret, options=options,
                                 rate_limit_per_min=10**6)  # fmt: skip
        row, _ = await manage.create_endpoint(tenant.id, webhook_box(settings), new, 10**6)
        hub.endpoints[row.public_id] = scheme
    hub.routes = inbound_routes(client)
    hub.rows = await door_rows()
    return hub


def slack_headers(body: bytes, timestamp: str) -> dict[str, str]:
    digest = hmac.new(SLACK_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def hook_headers(scheme: HookScheme, body: bytes, timestamp: str) -> dict[str, str]:
    secret = HOOK_SECRETS[scheme]
    if scheme is HookScheme.GITHUB:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": str(uuid.uuid4())}
    if scheme is HookScheme.STANDARD:
        msg_id = f"msg_{uuid.uuid4().hex}"
        stamp = int(timestamp) if timestamp.isdigit() else int(time.time())
        return {"webhook-id": msg_id, "webhook-timestamp": timestamp,
                "webhook-signature": sign_standard_webhook(secret, msg_id, stamp, body)}  # fmt: skip
    if scheme is HookScheme.HMAC:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        return {"X-Signature": base64.b64encode(digest).decode(), "X-Id": str(uuid.uuid4())}
    return {"Authorization": f"Bearer {secret}"}


def credentials(hub: Hub, path: str, body: bytes, timestamp: str) -> dict[str, str]:
    """The headers that prove the caller to the route's door, computed over this exact body."""
    if path.startswith("/slack/"):
        return slack_headers(body, timestamp)
    if path.startswith("/discord/"):
        stamp = int(timestamp) if timestamp.isdigit() and len(timestamp) < 15 else int(time.time())
        signed = discord_signed(body, stamp)
        return {**signed, "X-Signature-Timestamp": timestamp} if not timestamp.isdigit() else signed
    if path.startswith("/hooks/"):
        scheme = hub.endpoints.get(path.rsplit("/", 1)[1], HookScheme.BEARER)
        return hook_headers(scheme, body, timestamp)
    if path.startswith("/api/v1/agent/"):
        return {"Authorization": f"Bearer {hub.agent_key}"}
    return {"Authorization": f"Bearer {hub.api_token}"}


GARBAGE_CREDENTIALS: tuple[dict[str, str], ...] = (
    {},
    {
        "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=zz", "X-Signature-Ed25519": "zz",
        "X-Signature-Timestamp": "abc", "X-Hub-Signature-256": "sha256=%%", "Authorization": "Bearer",
    },
    {
        "X-Slack-Request-Timestamp": "1" * 40, "X-Slack-Signature": "v0=" + "0" * 64, "X-Signature-Timestamp": "-1",
        "X-Signature-Ed25519": "0" * 128, "webhook-signature": "v1,!!!", "webhook-timestamp": "1e9",
        "webhook-id": "x", "X-Signature": "not base64", "Authorization": "Bearer gs_x_y",
    },
    {"Authorization": "Basic Zm9vOmJhcg==", "X-Slack-Request-Timestamp": " 1_5", "X-Signature-Timestamp": "1.5"},
)  # fmt: skip


def concrete(hub: Hub, template: str, values: Iterator[str]) -> list[str]:
    """The template with each ``{param}`` filled from ``values``; for ``{endpoint}``, each endpoint of ours too."""
    if "{endpoint}" in template:
        return [template.replace("{endpoint}", name) for name in (*sorted(hub.endpoints), next(values))]
    parts = [next(values) if part.startswith("{") else part for part in template.split("/")]
    return ["/".join(parts)]


async def door_rows() -> dict[str, int]:
    rows = await connections.get("default").execute_query_dict(COUNT_SQL)
    return {table: int(count) for table, count in rows[0].items()}


async def attack(hub: Hub, method: str, path: str, body: bytes, headers: CIMultiDict[str]) -> int:
    """Send one request; assert it is not a 5xx, tells why briefly when refused, and a refusal changes nothing."""
    before = hub.rows
    response = await hub.client.request(method, path, data=body, headers=headers, allow_redirects=False)
    answer = await response.read()
    where = f"{method} {path} {headers!r} {body[:200]!r}"
    assert response.status < 500, f"{where} → {response.status} {answer[:500]!r}"
    hub.rows = await door_rows()
    if response.status >= 400:
        assert b"Traceback" not in answer and len(answer) <= 4096, f"{where} → {answer[:500]!r}"
        assert hub.rows == before, f"{where} was refused ({response.status}) but changed the database"
    elif path.startswith("/hooks/"):
        hub.accepted_hooks += hub.rows["hook_deliveries"] - before["hook_deliveries"]
    return response.status


def request_headers(content_type: str, *extra: dict[str, str]) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    if content_type:
        headers["Content-Type"] = content_type
    for more in extra:
        for name, value in more.items():
            headers.add(name, value)
    return headers


async def healthy(hub: Hub) -> None:
    assert (await hub.client.get("/healthz")).status == 200
    rows = await door_rows()
    assert rows["inbound_deliveries"] == rows["outbox"] == rows["jobs"] == rows["job_events"] == 0
    assert rows["hook_deliveries"] == hub.accepted_hooks and rows["hook_endpoints"] == len(HOOK_SECRETS)


async def test_a_corpus_of_malformed_requests_to_every_route_gets_a_4xx_and_changes_nothing(hub: Hub) -> None:
    values = iter(PATH_VALUES * 1000)
    for method, template in hub.routes:
        for path in concrete(hub, template, values):
            await attack_route(hub, method, path)
    await healthy(hub)


async def attack_route(hub: Hub, method: str, path: str) -> None:
    """The corpus against one route: every bad credential and query, then (with a body) a stale and a doubled
    signature, and every nasty body signed correctly, as JSON and as its own content type."""
    fresh = str(int(time.time()))
    queries = NASTY_QUERIES if method in ("GET", "DELETE") else NASTY_QUERIES[:1]
    for query in queries:
        await attack(hub, method, path + query, b"", request_headers("", credentials(hub, path, b"", fresh)))
    for creds in GARBAGE_CREDENTIALS:
        await attack(hub, method, path + queries[-1], b"{}", request_headers("application/json", creds))
    if method in ("GET", "DELETE"):
        return
    stale = credentials(hub, path, b"{}", str(int(time.time()) - 3600))
    await attack(hub, method, path, b"{}", request_headers("application/json", stale))
    twice = credentials(hub, path, b"{}", fresh)
    await attack(hub, method, path, b"{}", request_headers("application/json", twice, twice))
    for index, body in enumerate(NASTY_BODIES):
        creds = credentials(hub, path, body, str(int(time.time())))
        for content_type in ("application/json", CONTENT_TYPES[index % len(CONTENT_TYPES)]):
            await attack(hub, method, path, body, request_headers(content_type, creds))


async def test_a_huge_content_length_is_answered_at_once_without_waiting_for_the_body(hub: Hub) -> None:
    now = str(int(time.time()))
    for method, template in hub.routes:
        if method not in ("POST", "PUT", "PATCH"):
            continue
        path = concrete(hub, template, iter(PATH_VALUES))[0]
        headers = {**credentials(hub, path, b"{}", now), "Content-Type": "application/json"}
        status_line = await raw_status_line(
            hub.client, raw_head(method, path, headers, b"Content-Length: 99999999999"), b"{}"
        )
        # answered at once (413, or what the route says before it reads a body), not left waiting for the body
        assert status_line[9:10] in (b"2", b"3", b"4"), f"{method} {path} → {status_line!r}"
    await healthy(hub)


RAW_HEADERS = (b"X-Id: \xff\xfe", b"X-GitHub-Delivery: \xc3\x28", b"X-Anything: \xed\xa0\x80", b"X-Id: a\x00b",
               b"X-Id: " + b"i" * 300)  # fmt: skip


async def test_header_bytes_that_are_not_text_get_a_4xx_or_are_stored_as_text(hub: Hub) -> None:
    body = b'{"action": "opened"}'
    for path in concrete(hub, "/hooks/{endpoint}", iter(PATH_VALUES))[:-1]:
        for extra in RAW_HEADERS:
            headers = {**credentials(hub, path, body, str(int(time.time()))), "Content-Type": "application/json",
                       "Content-Length": str(len(body))}  # fmt: skip
            status_line = await raw_status_line(hub.client, raw_head("POST", path, headers, extra), body)
            assert status_line[9:10] in (b"2", b"4"), f"{path} {extra!r} → {status_line!r}"
    hub.accepted_hooks = (await door_rows())["hook_deliveries"]
    await healthy(hub)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# Shapes that name the fields the doors read, with values of any type in them.
READ_FIELDS = ("id", "token", "data", "member", "event", "event_id", "team_id", "user", "actions", "channel",
               "guild_id", "tool", "arguments", "tools", "events", "name", "scheme", "rules")  # fmt: skip
shaped = st.fixed_dictionaries(
    {"type": st.sampled_from([1, 2, 3, 4, "event_callback", "block_actions", "url_verification"]) | json_values},
    optional=dict.fromkeys(READ_FIELDS, json_values),
)
FORM_FIELDS = ("command", "text", "team_id", "user_id", "channel_id", "trigger_id", "payload", "x")
forms = st.dictionaries(st.sampled_from(FORM_FIELDS), st.text(max_size=10), max_size=5)
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
    shaped.map(lambda value: json.dumps(value).encode()),
    shaped.map(lambda value: ("payload=" + json.dumps(value)).encode()),
    forms.map(lambda fields: "&".join(f"{k}={v}" for k, v in fields.items()).encode()),
)


@hypothesis_settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
async def test_generated_requests_to_every_route_never_get_a_5xx(hub: Hub, data: st.DataObject) -> None:
    method, template = data.draw(st.sampled_from(hub.routes), label="route")
    paths = concrete(hub, template, iter(data.draw(st.lists(st.sampled_from(PATH_VALUES), min_size=3, max_size=3))))
    path = data.draw(st.sampled_from(paths), label="path")
    body = data.draw(bodies, label="body")
    timestamp = data.draw(st.sampled_from([str(int(time.time())), "0", "abc", "-5", "1" * 20, ""]), label="ts")
    signed = data.draw(st.booleans(), label="signed")
    creds = credentials(hub, path, body, timestamp) if signed else data.draw(st.sampled_from(GARBAGE_CREDENTIALS))
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    await attack(hub, method, path, body, request_headers(content_type, creds))
    assert (await hub.client.get("/healthz")).status == 200
