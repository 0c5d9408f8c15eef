"""The Slack door's lock, in process: verified before anything is parsed, typed before anything is recorded,
and every refusal a 4xx with a short reason that stores nothing."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from bot.slack.blocks import APPROVE_ACTION_ID
from hub.app import create_app
from hub.db.models import InboundDelivery, OutboxMessage
from hub.settings import Settings
from tests.conftest import free_port
from tests.fakes.slack_api import CHANNEL, TEAM_ID
from tests.slack.test_slack_end_to_end import SIGNING_SECRET, USER, command_body, mention_body, signed_headers

AiohttpClient = Any
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def door(aiohttp_client: AiohttpClient, tmp_path: Any, database_url: str, redis_url: str, orm: None) -> Any:
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path / "data"), "PORT": str(free_port()),
           "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-door"}  # fmt: skip
    client: TestClient = await aiohttp_client(create_app(Settings.from_env(env).with_stores(database_url, redis_url)))
    return client


async def post(door: TestClient, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    response = await door.post("/slack/events", data=body, headers=headers)
    text = await response.text()
    return response.status, json.loads(text) if text.startswith("{") else text


def signed_as(body: bytes, content_type: str) -> dict[str, str]:
    return {**signed_headers(body), "Content-Type": content_type}


async def nothing_recorded() -> bool:
    return await InboundDelivery.all().count() == 0 and await OutboxMessage.all().count() == 0


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"payload=%7B", {"Content-Type": FORM}, "missing X-Slack-Request-Timestamp header"),
        (b'{"type": "event_callback"', {"Content-Type": "application/json"},
         "missing X-Slack-Request-Timestamp header"),
        (b"command=/swarm", {"Content-Type": FORM, "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=1"},
         "X-Slack-Request-Timestamp is not a Unix time in seconds"),
        (b"payload=[1]", {"Content-Type": FORM, "X-Slack-Request-Timestamp": "now", "X-Slack-Signature": "v0=zz"},
         "X-Slack-Signature is not shaped like v0=<64 hex digits>"),
    ],
)  # fmt: skip
async def test_an_unsigned_or_badly_signed_malformed_body_gets_401_with_the_reason_before_it_is_parsed(
    door: TestClient, body: bytes, headers: dict[str, str], reason: str
) -> None:
    now = str(int(time.time()))  # a fresh timestamp, taken when the test runs
    status, answer = await post(door, body, {k: now if v == "now" else v for k, v in headers.items()})

    assert status == 401 and answer["error"]["code"] == "unauthorized"
    assert answer["error"]["message"] == f"invalid request signature: {reason}"
    assert await nothing_recorded()


async def test_a_signature_header_given_twice_is_refused(door: TestClient) -> None:
    body = command_body("help", "1.1.twice")
    signature = [(k, v) for k, v in signed_headers(body).items() if k.startswith("X-Slack")]
    headers = [("Content-Type", FORM), *signature, *signature]
    response = await door.post("/slack/events", data=body, headers=headers)

    assert response.status == 401
    assert "given more than once" in (await response.json())["error"]["message"]
    assert await nothing_recorded()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"[1, 2]", "application/json", 400, "expected a JSON object, got list"),
        (b'{"type": "event_callback"', "application/json", 400, "malformed JSON"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "nested deeper than 64 levels"),
        (b"payload=not+json", FORM, 400, "malformed JSON"),
        (b"command", FORM, 400, "malformed form body"),
        (b"command=/swarm&text=%FF", FORM, 400, "malformed form body"),
        (b"command=/swarm&command=/other", FORM, 400, "form field 'command' given more than once"),
        (b"command=/swarm&text=a%00b&team_id=T&channel_id=C&user_id=U", FORM, 400, "NUL character"),
        (b"command=/swarm", FORM, 400, "not a Slack SlashCommand: team_id: Field required"),
        (b'{"type": "view_submission"}', "application/json", 400, "not a Slack request this endpoint handles"),
        (b'{"type": []}', "application/json", 400, "not a Slack request this endpoint handles"),
        (b"command=/swarm", "text/plain", 415, "expected Content-Type"),
    ],
)
async def test_a_signed_body_that_is_not_a_slack_request_gets_a_4xx_with_the_reason(
    door: TestClient, body: bytes, content_type: str, status: int, reason: str
) -> None:
    answer_status, answer = await post(door, body, signed_as(body, content_type))

    assert answer_status == status and reason in answer["error"]["message"], answer
    assert await nothing_recorded()


def event_body(event: dict[str, Any]) -> bytes:
    return json.dumps({"type": "event_callback", "event_id": "Ev0TYPED01", "team_id": TEAM_ID, "event": event}).encode()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "app_mention", "channel": {"id": CHANNEL}, "user": USER, "text": "hi", "ts": "1.2"}, "channel"),
        ({"type": "app_mention", "channel": CHANNEL, "user": ["U1"], "text": "hi", "ts": "1.2"}, "user"),
        ({"type": "app_mention", "channel": CHANNEL, "user": USER, "text": {"t": 1}, "ts": "1.2"}, "text"),
        ({"type": "app_mention", "channel": CHANNEL, "user": USER, "text": "hi", "ts": 1.2}, "ts"),
    ],
)
async def test_an_event_with_a_field_of_the_wrong_type_is_refused_and_nothing_is_posted(
    door: TestClient, event: dict[str, Any], field: str
) -> None:
    body = event_body(event)
    status, answer = await post(door, body, signed_as(body, "application/json"))

    assert status == 400 and f"not a Slack EventCallback: event.{field}:" in answer["error"]["message"]
    assert await nothing_recorded()


async def test_a_typed_mention_is_recorded_with_its_fields(door: TestClient) -> None:
    body = mention_body("tool demo.echo text=hi", "Ev0MENTION1")
    status, _ = await post(door, body, signed_as(body, "application/json"))

    assert status == 200
    (message,) = await OutboxMessage.all()
    assert {k: message.payload[k] for k in ("event_id", "team_id", "channel_id", "user_id", "thread_ts")} == {
        "event_id": "Ev0MENTION1", "team_id": TEAM_ID, "channel_id": CHANNEL, "user_id": USER, "thread_ts": ""
    }  # fmt: skip


def bare_command(text: str) -> bytes:
    """A signed command as an app without trigger ids would send it: no trigger_id, no response_url."""
    return urlencode({"command": "/swarm", "team_id": TEAM_ID, "channel_id": CHANNEL, "user_id": USER,
                      "text": text}).encode()  # fmt: skip


async def test_signed_commands_without_trigger_id_or_response_url_are_each_recorded_once(door: TestClient) -> None:
    first, second = bare_command("tool demo.echo text=one"), bare_command("tool demo.echo text=two")
    first_headers = signed_as(first, FORM)
    for body, headers in ((first, first_headers), (second, signed_as(second, FORM)), (first, first_headers)):
        status, answer = await post(door, body, headers)
        assert status == 200, answer

    deliveries = await InboundDelivery.filter(source="slack:command").order_by("id")
    assert len(deliveries) == 2, "two commands are two deliveries; the replayed request is one of them"
    assert all(d.delivery_id.startswith("signed:") for d in deliveries)
    invocations = [m.payload["invocation"] for m in await OutboxMessage.all().order_by("id")]
    assert invocations == [d.delivery_id for d in deliveries], "each runs as its own job (its own idempotency key)"


async def test_a_command_whose_text_mentions_payload_is_recorded(door: TestClient) -> None:
    body = command_body("tool demo.echo text=payload", "2.2.payload")
    status, answer = await post(door, body, signed_as(body, FORM))

    assert (status, answer) == (200, "⏳ On it…")
    (message,) = await OutboxMessage.all()
    assert message.payload["text"] == "tool demo.echo text=payload" and message.payload["invocation"] == "2.2.payload"


async def test_slack_s_url_and_ssl_checks_are_answered(door: TestClient) -> None:
    challenge = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                            "type": "url_verification"}).encode()  # fmt: skip
    status, answer = await post(door, challenge, signed_as(challenge, "application/json"))
    assert (status, answer) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    ssl_check = b"ssl_check=1&token=x"
    assert (await post(door, ssl_check, signed_as(ssl_check, FORM)))[0] == 200
    assert await nothing_recorded()


def click_body(user: Any) -> bytes:
    payload = {"type": "block_actions", "user": user, "team": {"id": TEAM_ID}, "channel": {"id": CHANNEL},
               "actions": [{"action_id": APPROVE_ACTION_ID, "value": "3f2a", "action_ts": "1700000000.1"}]}  # fmt: skip
    return urlencode({"payload": json.dumps(payload)}).encode()


async def test_a_click_is_recorded_for_the_signed_user_and_a_malformed_one_is_refused(door: TestClient) -> None:
    malformed = click_body(USER)  # a string where Slack sends {"id": ...}
    status, answer = await post(door, malformed, signed_as(malformed, FORM))
    assert status == 400 and "not a Slack BlockActions: user:" in answer["error"]["message"]
    assert await nothing_recorded()

    body = click_body({"id": USER, "team_id": TEAM_ID})
    assert (await post(door, body, signed_as(body, FORM)))[0] == 200
    (message,) = await OutboxMessage.all()
    assert {k: message.payload[k] for k in ("action", "job_id", "user_id", "team_id", "channel_id")} == {
        "action": "approve", "job_id": "3f2a", "user_id": USER, "team_id": TEAM_ID, "channel_id": CHANNEL
    }  # fmt: skip
