"""The inbound door, in-process: verified deliveries are stored and answered 202; everything else
gets a clear 4xx and stores nothing."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.db.models import Job, OutboxMessage, Worker
from hub.db.webhook_models import HookDelivery, HookEndpoint
from hub.security.webhooks import sign_standard_webhook
from hub.services import admin
from hub.settings import Settings
from tests.conftest import free_port
from tests.raw_http import raw_head, raw_status_line
from tests.webhooks.support import GITHUB_SECRET, PR_RULE, github_headers, pull_request_body

AiohttpClient = Any
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Door:
    client: TestClient
    token: str

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = await self.client.request(method, path, headers=headers, **kwargs)
        return response.status, await response.json()

    async def endpoint(self, **body: Any) -> dict[str, Any]:
        status, created = await self.api("POST", "/api/v1/hooks", json=body)
        assert status == 201, created
        return dict(created)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        response = await self.client.post(url, data=body, headers=headers)
        return response.status, await response.json(), dict(response.headers)


async def _door(aiohttp_client: AiohttpClient, settings: Settings) -> Door:
    client: TestClient = await aiohttp_client(create_app(settings))
    return Door(client, (await admin.add_token("tests", ["jobs"])).key)


@pytest.fixture
async def door(aiohttp_client: AiohttpClient, settings: Settings) -> Door:
    return await _door(aiohttp_client, settings)


async def _github(door: Door, **more: Any) -> str:
    created = await door.endpoint(name="github", scheme="github", secret=GITHUB_SECRET, rules=[PR_RULE], **more)
    return str(created["url"])


async def test_a_signed_github_delivery_is_stored_raw_as_the_workers_work_item_and_answered_202(door: Door) -> None:
    url, body = await _github(door), pull_request_body()
    headers = github_headers(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    status, answer, _ = await door.post(url, body, headers)
    assert (status, answer) == (202, {"status": "accepted", "delivery": answer["delivery"],
                                      "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                                      "matched": ["pr-opened"], "detail": None})  # fmt: skip
    stored = await HookDelivery.get(id=answer["delivery"])
    assert bytes(stored.body) == body and stored.headers["X-GitHub-Event"] == "pull_request"
    assert stored.status.value == "received" and stored.matched == ["pr-opened"], "the hub worker drains it"
    assert await OutboxMessage.all().count() == 0 and await Job.all().count() == 0, "no job on the ack path"


async def test_unsigned_tampered_or_stale_requests_are_refused_and_nothing_is_stored(door: Door) -> None:
    github_url, body = await _github(door), pull_request_body()
    unsigned = {k: v for k, v in github_headers(body).items() if k != "X-Hub-Signature-256"}
    tampered = github_headers(body)
    standard = await door.endpoint(name="std", scheme="standard", secret=STANDARD_SECRET, rules=[PR_RULE])
    stale_at = int(time.time()) - 600
    stale = {"Content-Type": "application/json", "webhook-id": "msg_1", "webhook-timestamp": str(stale_at),
             "webhook-signature": sign_standard_webhook(STANDARD_SECRET, "msg_1", stale_at, b"{}")}  # fmt: skip
    bearer = await door.endpoint(name="bearer", scheme="bearer", secret="a-long-static-token")
    cases = [
        (github_url, body, unsigned, "X-Hub-Signature-256 header is missing"),
        (github_url, body.replace(b'"number":42', b'"number":43'), tampered, "signature does not match"),
        (standard["url"], b"{}", stale, "too old"),
        (bearer["url"], b"{}", {"Content-Type": "application/json", "Authorization": "Bearer wrong"}, "does not match"),
    ]
    for url, sent, headers, reason in cases:
        status, answer, _ = await door.post(url, sent, headers)
        assert status == 401 and reason in answer["error"]["message"], answer
    assert await HookDelivery.all().count() == 0
    assert await OutboxMessage.all().count() == 0


async def test_a_valid_standard_webhook_with_several_signatures_is_accepted(door: Door) -> None:
    rule = {"name": "any", "tool": "demo.echo", "arguments": {"text": "{{ payload.n }}"}}
    created = await door.endpoint(name="std", scheme="standard", secret=STANDARD_SECRET, rules=[rule])
    now, payload = int(time.time()), b'{"n": 1}'
    signature = "v2,Zm9v " + sign_standard_webhook(STANDARD_SECRET, "msg_2", now, payload) + " v1,AAAA"
    headers = {"Content-Type": "application/json", "webhook-id": "msg_2", "webhook-timestamp": str(now),
               "webhook-signature": signature}  # fmt: skip
    status, answer, _ = await door.post(created["url"], payload, headers)
    assert (status, answer["delivery_id"], answer["matched"]) == (202, "msg_2", ["any"])


async def test_an_oversized_body_is_refused_with_413(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    assert settings.database_url and settings.redis_url
    small = Settings.from_env({"GARAGESWARM_DATA_DIR": str(settings.data_dir), "GARAGESWARM_WEBHOOK_MAX_BYTES": "2048"})
    door = await _door(aiohttp_client, small.with_stores(settings.database_url, settings.redis_url))
    url = await _github(door)
    body = json.dumps({"action": "opened", "pad": "x" * 4096}).encode()
    status, answer, _ = await door.post(url, body, github_headers(body))
    assert status == 413 and "2048" in answer["error"]["message"]
    assert await HookDelivery.all().count() == 0


async def test_malformed_json_is_400_with_the_reason_and_other_types_415(door: Door) -> None:
    url = await _github(door)
    body = b'{"action": "opened",'
    status, answer, _ = await door.post(url, body, github_headers(body))
    assert status == 400 and answer["error"]["message"].startswith("malformed JSON: Expecting")
    form = b"payload=%7B%7D"
    status, answer, _ = await door.post(url, form, {**github_headers(form), "Content-Type": "text/plain"})
    assert status == 415 and "text/plain" in answer["error"]["message"]
    assert await HookDelivery.all().count() == 0


async def test_a_redelivery_answers_200_duplicate_and_adds_nothing(door: Door) -> None:
    url, body = await _github(door), pull_request_body()
    headers = github_headers(body)
    first, answer, _ = await door.post(url, body, headers)
    again, repeat, _ = await door.post(url, body, headers)
    assert (first, again) == (202, 200)
    assert repeat["status"] == "duplicate" and repeat["delivery"] == answer["delivery"]
    assert repeat["detail"] == "already received (received)"
    assert await HookDelivery.all().count() == 1


async def test_concurrent_requests_share_one_insert_and_a_repeat_within_it_is_a_duplicate(door: Door) -> None:
    url, body = await _github(door), pull_request_body()
    unique = [github_headers(body) for _ in range(20)]
    answers = await asyncio.gather(*(door.post(url, body, headers) for headers in [*unique, unique[0]]))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] + [202] * 20, statuses
    assert len({answer["delivery"] for _, answer, _ in answers}) == 20
    assert await HookDelivery.filter(status="received").count() == 20


async def test_over_the_rate_limit_is_429_with_retry_after(door: Door) -> None:
    url, body = await _github(door, rate_limit_per_min=2), pull_request_body()
    answers = [await door.post(url, body, github_headers(body)) for _ in range(3)]
    assert [status for status, _, _ in answers] == [202, 202, 429]
    _, answer, headers = answers[2]
    assert answer["error"]["code"] == "rate_limited" and 1 <= int(headers["Retry-After"]) <= 60
    assert await HookDelivery.all().count() == 2


async def test_a_delivery_no_rule_matches_is_recorded_and_says_nothing_matched(door: Door) -> None:
    url, body = await _github(door), pull_request_body()
    status, answer, _ = await door.post(url, body, github_headers(body, event="push"))
    assert (status, answer["status"], answer["matched"]) == (202, "ignored", [])
    assert (await HookDelivery.get(id=answer["delivery"])).status.value == "ignored"
    assert await OutboxMessage.all().count() == 0, "nothing to run, nothing queued"


async def test_with_redis_down_deliveries_are_still_accepted(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    assert settings.database_url is not None
    down = settings.with_stores(settings.database_url, f"redis://127.0.0.1:{free_port()}/0")
    door = await _door(aiohttp_client, down)
    url, body = await _github(door, rate_limit_per_min=3), pull_request_body()
    statuses = [(await door.post(url, body, github_headers(body)))[0] for _ in range(4)]
    assert statuses == [202, 202, 202, 429], "the limit still holds, counted by this hub alone"
    assert await HookDelivery.filter(status="received").count() == 3, "stored for the worker to drain"


async def test_unknown_endpoints_are_404(door: Door) -> None:
    status, answer, _ = await door.post("/hooks/hk_nope", b"{}", {"Content-Type": "application/json"})
    assert status == 404 and answer["error"]["code"] == "not_found"


async def test_a_subscription_to_a_private_target_is_refused(door: Door) -> None:
    for url in ("http://127.0.0.1:9/x", "http://169.254.169.254/latest", "http://localhost/x", "ftp://example.com/"):
        status, answer = await door.api("POST", "/api/v1/subscriptions", json={"url": url, "events": ["job.failed"]})
        assert status == 422 and "target refused" in answer["error"]["message"], (url, answer)


async def test_endpoint_management_round_trip(door: Door) -> None:
    created = await door.endpoint(name="ci", scheme="hmac", options={"header": "X-Signature", "encoding": "base64"},
                                  channel={"platform": "slack", "channel": "C0123", "team": "T1"})  # fmt: skip
    assert created["secret"] and created["url"].startswith("/hooks/hk_")
    status, fetched = await door.api("GET", f"/api/v1/hooks/{created['name']}")
    assert status == 200 and fetched["secret"] is None, "the secret is shown once"
    assert fetched["channel"] == {"platform": "slack", "channel": "C0123", "thread": None, "team": "T1"}
    status, updated = await door.api("PATCH", f"/api/v1/hooks/{created['id']}", json={"rules": [PR_RULE]})
    assert status == 200 and updated["rules"][0]["name"] == "pr-opened"
    broken = {"name": "x", "tool": "demo.echo", "arguments": {"a": "{{"}}
    status, bad = await door.api("PATCH", f"/api/v1/hooks/{created['id']}", json={"rules": [broken]})
    assert status == 422 and "does not compile" in bad["error"]["message"]
    status, _ = await door.api("DELETE", f"/api/v1/hooks/{created['id']}")
    assert status == 200 and (await door.api("GET", "/api/v1/hooks"))[1] == {"hooks": []}


async def test_two_long_delivery_ids_alike_in_their_first_200_characters_are_refused_not_merged(door: Door) -> None:
    url, body = await _github(door), pull_request_body()
    first, second = "d" * 200 + "-first", "d" * 200 + "-second"
    for delivery in (first, second):
        status, answer, _ = await door.post(url, body, github_headers(body, delivery=delivery))
        assert status == 400 and "X-GitHub-Delivery header is longer than 200 characters" in answer["error"]["message"]
    assert await HookDelivery.all().count() == 0
    longest = "d" * 200
    status, answer, _ = await door.post(url, body, github_headers(body, delivery=longest))
    assert (status, answer["delivery_id"]) == (202, longest), "an id that fits is kept whole"


async def test_a_secret_given_when_creating_is_not_echoed_in_the_answer(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    assert settings.database_url and settings.redis_url
    env = {"GARAGESWARM_DATA_DIR": str(settings.data_dir), "GARAGESWARM_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32"}
    door = await _door(aiohttp_client, Settings.from_env(env).with_stores(settings.database_url, settings.redis_url))
    created = await door.endpoint(name="ci", scheme="bearer", secret="a-long-static-token")
    status, sub = await door.api("POST", "/api/v1/subscriptions",
                                 json={"url": "http://127.0.0.1:9/x", "events": ["job.failed"],
                                       "secret": "whsec_c2VjcmV0LXR5cGVkLWZvci1vdXRib3VuZA=="})  # fmt: skip
    assert created["secret"] is None and (status, sub["secret"]) == (201, None)


ECHO_TOOL = {"name": "demo.echo", "description": "Echo",
             "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"],
                              "additionalProperties": False}}  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"txt": "hi"}, "missing required argument 'text'; unknown argument 'txt'; did you mean 'text'?"),
        ({}, "missing required argument 'text'"),
        ({"text": 42}, "text: 42 is not of type string"),
    ],
)
async def test_a_rule_whose_arguments_the_tool_refuses_is_refused_when_saved(
    door: Door, arguments: dict[str, Any], problem: str
) -> None:
    await admin.add_worker("garage-1", {})
    await Worker.filter(name="garage-1").update(tools=[ECHO_TOOL], status="online")
    rule = {"name": "echo", "tool": "demo.echo", "arguments": arguments}
    status, answer = await door.api("POST", "/api/v1/hooks", json={"name": "ci", "scheme": "bearer", "rules": [rule]})
    assert status == 422 and answer["error"]["message"] == f"rule echo: invalid arguments for demo.echo: {problem}"
    assert await HookEndpoint.all().count() == 0
    created = await door.endpoint(name="ci", scheme="bearer")
    status, answer = await door.api("PATCH", f"/api/v1/hooks/{created['id']}", json={"rules": [rule]})
    assert status == 422 and problem in answer["error"]["message"]
    assert (await HookEndpoint.get(id=created["id"])).rules == []


async def test_a_rule_is_saved_when_its_tool_is_unknown_or_its_values_are_templates(door: Door) -> None:
    await admin.add_worker("garage-1", {})
    await Worker.filter(name="garage-1").update(tools=[ECHO_TOOL], status="online")
    rules = [{"name": "templated", "tool": "demo.echo", "arguments": {"text": "{{ payload.number }}"}},
             {"name": "elsewhere", "tool": "other.tool", "arguments": {"anything": 1}}]  # fmt: skip
    created = await door.endpoint(name="ci", scheme="bearer", rules=rules)
    assert [rule["name"] for rule in created["rules"]] == ["templated", "elsewhere"], "checked when they render"


async def test_a_nul_or_an_over_long_reference_in_the_url_is_a_4xx(door: Door) -> None:
    assert (await door.api("GET", "/api/v1/hooks/a%00b"))[0] == 400
    assert (await door.api("GET", "/api/v1/hooks?status=%00"))[0] == 400
    status, answer = await door.api("GET", "/api/v1/hooks/" + "a" * 300)
    assert (status, answer["error"]["code"]) == (404, "not_found")
    status, answer, _ = await door.post("/hooks/hk_" + "a" * 300, b"{}", {"Content-Type": "application/json"})
    assert status == 404


async def test_a_header_that_is_not_utf8_is_a_400_and_does_not_fail_the_deliveries_written_with_it(
    door: Door,
) -> None:
    url, body = await _github(door), pull_request_body()
    headers = {**github_headers(body), "Content-Length": str(len(body))}
    bad = raw_status_line(door.client, raw_head("POST", url, headers, b"X-Forwarded-For: \xff\xfe"), body)
    good = [door.post(url, body, github_headers(body)) for _ in range(5)]
    refused, *accepted = await asyncio.gather(bad, *good)
    assert refused.startswith(b"HTTP/1.1 400")
    assert [status for status, _, _ in accepted] == [202] * 5, "one bad header must not fail the shared INSERT"
    assert await HookDelivery.all().count() == 5
