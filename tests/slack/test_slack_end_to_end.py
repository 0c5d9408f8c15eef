"""Slack end to end: a signed /swarm command → a job on a real agent → status edited in place,
the image uploaded into the job's thread, the result posted — all against a strict fake Web API."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from tests.conftest import StartSwarm
from tests.fakes.slack_api import BOT_TOKEN, CHANNEL, TEAM_ID, SlackApiFake
from tests.harness import Swarm, demo_stdio_config

pytestmark = pytest.mark.timeout(90)
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
USER = "U0ADA000001"


@pytest.fixture
async def slack(aiohttp_server: Any) -> tuple[SlackApiFake, str]:
    fake = SlackApiFake()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("/api/"))


@pytest.fixture
async def slack_swarm(start_swarm: StartSwarm, slack: tuple[SlackApiFake, str]) -> Swarm:
    _, api_url = slack
    swarm = await start_swarm(SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=api_url)
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    return swarm


def command_body(text: str, trigger_id: str) -> bytes:
    fields = {"token": "unused", "team_id": TEAM_ID, "team_domain": "garage", "channel_id": CHANNEL,
              "channel_name": "swarm", "user_id": USER, "user_name": "ada", "command": "/swarm", "text": text,
              "response_url": "https://hooks.slack.invalid/commands/T/1/x", "trigger_id": trigger_id}  # fmt: skip
    return urlencode(fields).encode()


def signed_headers(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body.decode())
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip


async def post(swarm: Swarm, body: bytes, headers: dict[str, str]) -> tuple[int, str, float]:
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.post(swarm.url + "/slack/events", data=body, headers=headers) as response,
    ):
        return response.status, await response.text(), time.perf_counter() - started


async def wait_for(condition: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_slash_command_runs_a_job_and_the_thread_shows_progress_image_and_result(
    slack_swarm: Swarm, slack: tuple[SlackApiFake, str]
) -> None:
    fake, _ = slack
    body = command_body('tool demo.image width=16 height=16 text="hi"', "1.1.image")
    status, text, elapsed = await post(slack_swarm, body, signed_headers(body))
    assert status == 200 and elapsed < 3.0
    assert "On it" in text

    def result_posted() -> bool:
        return any("thread_ts" in c and "succeeded" in str(c["text"]) for c in fake.calls("chat.postMessage"))

    await wait_for(result_posted)
    status_post, *in_thread = fake.calls("chat.postMessage")
    assert status_post["channel"] == CHANNEL and "thread_ts" not in status_post
    thread_ts = next(c.response["ts"] for c in fake.log if c.method == "chat.postMessage")
    (result,) = in_thread
    assert result["thread_ts"] == thread_ts and "succeeded" in str(result["text"])
    assert all(c["ts"] == thread_ts for c in fake.calls("chat.update")), "status edited in place"
    (image,) = [f for f in fake.files() if f.filename.endswith(".png")]
    assert image.shared and image.thread_ts == thread_ts and image.data and image.data[:4] == b"\x89PNG"
    _, jobs = await slack_swarm.api("GET", "/api/v1/jobs")
    assert [j["origin"] for j in jobs["jobs"]] == ["slack"]
    assert jobs["jobs"][0]["requester"] == f"slack:{TEAM_ID}:{USER}"


async def test_a_repeated_command_runs_once(slack_swarm: Swarm, slack: tuple[SlackApiFake, str]) -> None:
    body = command_body("tool demo.echo text=once", "2.2.repeat")
    for _ in range(3):
        status, _, _ = await post(slack_swarm, body, signed_headers(body))
        assert status == 200
    await asyncio.sleep(2.0)
    _, jobs = await slack_swarm.api("GET", "/api/v1/jobs")
    assert len(jobs["jobs"]) == 1


async def test_unsigned_tampered_or_stale_commands_get_401_and_change_nothing(
    slack_swarm: Swarm, slack: tuple[SlackApiFake, str]
) -> None:
    fake, _ = slack
    body = command_body("tool demo.echo text=nope", "3.3.bad")
    tampered = body.replace(b"nope", b"nopf")
    cases = [
        {"Content-Type": "application/x-www-form-urlencoded"},
        {**signed_headers(body), "X-Slack-Signature": signed_headers(tampered)["X-Slack-Signature"]},
        signed_headers(body, timestamp=int(time.time()) - 600),
        signed_headers(body, secret="another-secret-entirely-000000000"),
    ]
    for headers in cases:
        status, _, _ = await post(slack_swarm, body, headers)
        assert status == 401, headers
    await asyncio.sleep(1.0)
    _, jobs = await slack_swarm.api("GET", "/api/v1/jobs")
    assert jobs["jobs"] == [] and fake.log == []


async def test_a_bad_command_is_answered_privately_with_usage(
    slack_swarm: Swarm, slack: tuple[SlackApiFake, str]
) -> None:
    fake, _ = slack
    body = command_body("tool demo.ecko text=x", "4.4.typo")
    status, _, _ = await post(slack_swarm, body, signed_headers(body))
    assert status == 200
    await wait_for(lambda: bool(fake.calls("chat.postEphemeral")))
    (answer,) = fake.calls("chat.postEphemeral")
    assert answer["user"] == USER and "demo.echo" in str(answer["text"])
    _, jobs = await slack_swarm.api("GET", "/api/v1/jobs")
    assert jobs["jobs"] == []


async def test_progress_edits_the_status_message_about_once_a_second_and_survives_a_429(
    slack_swarm: Swarm, slack: tuple[SlackApiFake, str]
) -> None:
    fake, _ = slack
    fake.rate_limit_next("chat.update", retry_after_s=1, times=1)
    body = command_body("tool demo.progress steps=60 delay_s=0.05", "5.5.progress")
    started = time.monotonic()
    status, _, _ = await post(slack_swarm, body, signed_headers(body))
    assert status == 200
    await wait_for(lambda: any("thread_ts" in c for c in fake.calls("chat.postMessage")))
    elapsed = time.monotonic() - started
    updates = [c for c in fake.log if c.method == "chat.update"]
    assert any(u.status == 429 for u in updates), "the fake was asked to rate-limit one update"
    accepted = [u for u in updates if u.status == 200 and u.response.get("ok")]
    assert accepted, "the status message was never edited"
    assert len(updates) <= elapsed + 3, f"{len(updates)} updates in {elapsed:.1f} s: not coalesced"
    progress_texts = [str(u.args.get("blocks")) for u in accepted]
    assert any("%" in text for text in progress_texts), "no progress bar in the edited status"
    assert "succeeded" in str(accepted[-1].args.get("text")) or any(
        "succeeded" in str(c["text"]) for c in fake.calls("chat.postMessage")
    )


def mention_body(text: str, event_id: str, ts: str = "1700000100.000100") -> bytes:
    payload = {
        "token": "unused", "team_id": TEAM_ID, "api_app_id": "A0SWARM0001", "type": "event_callback",
        "event_id": event_id, "event_time": 1700000100,
        "event": {"type": "app_mention", "user": USER, "text": f"<@U0SWARMBOT1> {text}", "ts": ts,
                  "channel": CHANNEL, "event_ts": ts},
    }  # fmt: skip
    return json.dumps(payload).encode()


def json_headers(body: bytes, **extra: str) -> dict[str, str]:
    return {**signed_headers(body), "Content-Type": "application/json", **extra}


async def test_a_mention_runs_like_the_command_and_answers_in_its_thread(
    slack_swarm: Swarm, slack: tuple[SlackApiFake, str]
) -> None:
    fake, _ = slack
    body = mention_body("tool demo.echo text=mentioned", "Ev0MENTION01")
    status, _, _ = await post(slack_swarm, body, json_headers(body))
    assert status == 200
    retried, _, _ = await post(slack_swarm, body, json_headers(body, **{"X-Slack-Retry-Num": "1"}))
    assert retried == 200
    await wait_for(
        lambda: any("succeeded" in str(c["text"]) and c.get("thread_ts") for c in fake.calls("chat.postMessage"))
    )
    assert all(c.get("thread_ts") == "1700000100.000100" for c in fake.calls("chat.postMessage"))
    _, jobs = await slack_swarm.api("GET", "/api/v1/jobs")
    assert len(jobs["jobs"]) == 1, "a retried event runs once"

    help_body = mention_body("help", "Ev0MENTION02", ts="1700000200.000200")
    assert (await post(slack_swarm, help_body, json_headers(help_body)))[0] == 200
    await wait_for(lambda: any(c.get("thread_ts") == "1700000200.000200" for c in fake.calls("chat.postMessage")))
    answer = next(c for c in fake.calls("chat.postMessage") if c.get("thread_ts") == "1700000200.000200")
    assert "tool SERVER.TOOL" in str(answer["text"]) or "tool SERVER.TOOL" in str(answer["blocks"])


async def test_slack_refusals_are_logged_on_the_job_and_the_worker_carries_on(
    slack_swarm: Swarm, slack: tuple[SlackApiFake, str]
) -> None:
    fake, _ = slack
    fake.fail_next("chat.postMessage", "channel_not_found", times=20)
    body = command_body("tool demo.echo text=lost", "6.6.refused")
    assert (await post(slack_swarm, body, signed_headers(body)))[0] == 200
    for _ in range(100):
        _, jobs = await slack_swarm.api("GET", "/api/v1/jobs")
        if jobs["jobs"]:
            break
        await asyncio.sleep(0.1)
    job = await slack_swarm.wait_job(jobs["jobs"][0]["id"])
    assert job["status"] == "succeeded", "a chat refusal does not fail the job"
    await wait_for(lambda: bool(fake.calls("chat.postMessage")))

    async def refusal_logged() -> bool:
        events = (await slack_swarm.job(job["id"]))["events"]
        return any(e["kind"] == "log" and "channel_not_found" in e["data"]["message"] for e in events)

    for _ in range(100):
        if await refusal_logged():
            break
        await asyncio.sleep(0.1)
    assert await refusal_logged()

    fake.rate_limit_next("chat.postEphemeral", retry_after_s=1, times=1)
    body = command_body("help", "6.6.after")
    assert (await post(slack_swarm, body, signed_headers(body)))[0] == 200
    await wait_for(lambda: any(c.status == 200 for c in fake.log if c.method == "chat.postEphemeral"))
    assert [c.status for c in fake.log if c.method == "chat.postEphemeral"] == [429, 200], "waited and retried"


async def test_a_login_link_asked_for_in_a_mention_is_shown_only_to_its_author(
    start_swarm: StartSwarm, slack: tuple[SlackApiFake, str]
) -> None:
    fake, api_url = slack
    swarm = await start_swarm(
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=api_url,
        OIDC_ISSUER="https://idp.example.com", OIDC_CLIENT_ID="hub", OIDC_CLIENT_SECRET="s",
        GARAGESWARM_SECRET_KEY="k" * 40,
    )  # fmt: skip
    body = mention_body("login", "Ev0LOGIN0001")
    assert (await post(swarm, body, json_headers(body)))[0] == 200
    await wait_for(lambda: bool(fake.calls("chat.postEphemeral")))
    (private,) = fake.calls("chat.postEphemeral")
    assert private["user"] == USER and f"{swarm.url}/auth/link/" in str(private["text"])
    assert not [c for c in fake.calls("chat.postMessage") if "/auth/link/" in str(c)], "never in the public thread"
