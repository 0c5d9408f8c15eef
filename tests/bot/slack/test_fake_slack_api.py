"""The Slack API fake, driven by the real slack_sdk client: it answers as Slack does and refuses what Slack refuses."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.ports import ApprovalPrompt, JobState, Progress, ResultMessage, StatusMessage
from bot.slack.blocks import approval_blocks, decided_blocks, fallback_text, result_blocks, status_blocks
from tests.fakes.slack_api import BOT_ID, BOT_TOKEN, BOT_USER_ID, CHANNEL, TEAM_ID, SlackApiFake

OUTSIDER = "C0OUTSIDE01"  # exists, but the bot was never invited
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}


@dataclass
class Slack:
    fake: SlackApiFake
    api_url: str

    def client(self, token: str = BOT_TOKEN, **kwargs: Any) -> AsyncWebClient:
        return AsyncWebClient(token=token, base_url=self.api_url, **kwargs)


@pytest.fixture
async def slack(aiohttp_server: AiohttpServer) -> AsyncIterator[Slack]:
    fake = SlackApiFake()
    fake.add_channel(OUTSIDER, member=False, name="outside")
    server = await aiohttp_server(fake.app())
    yield Slack(fake, str(server.make_url("/api/")))


async def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


async def test_auth_test_names_the_bot_and_its_workspace(slack: Slack) -> None:
    response = await slack.client().auth_test()

    assert (response["team_id"], response["user_id"], response["bot_id"]) == (TEAM_ID, BOT_USER_ID, BOT_ID)
    assert slack.fake.calls("auth.test") == [{}]


async def test_a_posted_message_gets_a_slack_ts_and_is_recorded_with_its_arguments(slack: Slack) -> None:
    client = slack.client()

    first = await client.chat_postMessage(channel=CHANNEL, text="hi", blocks=[SECTION])
    second = await client.chat_postMessage(channel=CHANNEL, text="in thread", thread_ts=first["ts"])

    assert (first["ts"], second["ts"]) == ("1700000000.000100", "1700000000.000200")
    assert slack.fake.calls("chat.postMessage") == [
        {"channel": CHANNEL, "text": "hi", "blocks": [SECTION]},
        {"channel": CHANNEL, "text": "in thread", "thread_ts": "1700000000.000100"},
    ]
    assert slack.fake.message(CHANNEL, second["ts"])["thread_ts"] == first["ts"]


async def test_an_update_replaces_the_text_and_blocks_of_an_existing_message_only(slack: Slack) -> None:
    client = slack.client()
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1", blocks=[SECTION])

    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2")
    error = await slack_error(client.chat_update(channel=CHANNEL, ts="1600000000.000100", text="v3"))

    assert error.response["error"] == "message_not_found"
    message = slack.fake.message(CHANNEL, posted["ts"])
    assert (message["text"], "blocks" in message) == ("v2", False)


async def test_form_encoded_and_query_string_arguments_are_read_like_json_ones(slack: Slack) -> None:
    client = slack.client()

    await client.api_call("chat.postMessage", data={"channel": CHANNEL, "blocks": json.dumps([SECTION])})
    await client.api_call("chat.postMessage", params={"channel": CHANNEL, "text": "by query"})
    await client.api_call("chat.postMessage", data={"token": BOT_TOKEN, "channel": CHANNEL, "text": "t"})

    assert slack.fake.calls("chat.postMessage")[:2] == [
        {"channel": CHANNEL, "blocks": [SECTION]},
        {"channel": CHANNEL, "text": "by query"},
    ]


async def test_an_ephemeral_message_needs_a_user(slack: Slack) -> None:
    client = slack.client()

    response = await client.chat_postEphemeral(channel=CHANNEL, user="U024BE7LH", text="only you")
    error = await slack_error(client.api_call("chat.postEphemeral", json={"channel": CHANNEL, "text": "x"}))

    assert response["message_ts"] == "1700000000.000100"
    assert error.response["error"] == "user_not_found"


async def test_files_upload_v2_runs_the_external_upload_flow_end_to_end(slack: Slack) -> None:
    client = slack.client()
    thread = await client.chat_postMessage(channel=CHANNEL, text="job started")

    response = await client.files_upload_v2(
        channel=CHANNEL, thread_ts=thread["ts"], filename="out.txt", content="héllo\n" * 1000, title="Output",
        initial_comment="full output",
    )  # fmt: skip

    [file] = slack.fake.files()
    assert response["file"] == {"id": file.id, "title": "Output", "name": "out.txt", "size": 7000}
    assert (file.data, file.shared, file.channel, file.thread_ts) == ("héllo\n".encode() * 1000, True, CHANNEL,
                                                                      thread["ts"])  # fmt: skip
    assert file.initial_comment == "full output"
    assert [call.method for call in slack.fake.log] == [
        "chat.postMessage", "files.getUploadURLExternal", "upload", "files.completeUploadExternal",
    ]  # fmt: skip


async def test_a_file_must_be_uploaded_before_it_is_completed_and_only_once(slack: Slack) -> None:
    client = slack.client()
    ticket = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    files = [{"id": ticket["file_id"]}]

    early = await slack_error(client.files_completeUploadExternal(files=files, channel_id=CHANNEL))
    await client.files_upload_v2(channel=CHANNEL, filename="b.txt", content="abc")
    again = await slack_error(client.files_completeUploadExternal(files=[{"id": "F0FAKE00002"}]))

    assert early.response["error"] == again.response["error"] == "file_not_found"


async def test_an_upload_of_another_length_than_announced_is_refused(slack: Slack) -> None:
    ticket = await slack.client().files_getUploadURLExternal(filename="a.txt", length=3)

    async with aiohttp.ClientSession() as session, session.post(ticket["upload_url"], data=b"abcd") as response:
        refused = (response.status, await response.text())

    assert refused == (400, "expected 3 bytes, received 4")
    assert slack.fake.files()[0].data is None


@pytest.mark.parametrize(("length", "error"), [(0, "missing_argument"), ("x", "missing_argument")])
async def test_an_upload_needs_a_positive_length(slack: Slack, length: Any, error: str) -> None:
    client = slack.client()

    refused = await slack_error(
        client.api_call("files.getUploadURLExternal", params={"filename": "a", "length": length})
    )

    assert refused.response["error"] == error


async def test_a_429_raises_slack_api_error_with_retry_after_unless_a_retry_handler_is_installed(slack: Slack) -> None:
    slack.fake.rate_limit_next("chat.update", retry_after_s=7)
    slack.fake.rate_limit_next("chat.postMessage", retry_after_s=0, times=2)  # 0 keeps the test fast

    error = await slack_error(slack.client().chat_update(channel=CHANNEL, ts="1", text="x"))
    retrying = slack.client(retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    posted = await retrying.chat_postMessage(channel=CHANNEL, text="after two 429s")

    assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "7")
    assert error.response["error"] == "ratelimited"
    assert posted["ok"] is True
    assert [call.status for call in slack.fake.log if call.method == "chat.postMessage"] == [429, 429, 200]


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        ([{"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}], "invalid_blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "invalid_blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "invalid_blocks"),
        ([{"type": "section", "txt": {"type": "mrkdwn", "text": "x"}}], "invalid_blocks"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}], "invalid_blocks"),
        ([{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}]}],
         "invalid_blocks"),
        ([{"type": "actions", "elements": [{"type": "buton", "text": {"type": "plain_text", "text": "x"}}]}],
         "invalid_blocks"),
        ([SECTION | {"block_id": "b"}, SECTION | {"block_id": "b"}], "invalid_blocks"),
        ([SECTION] * 51, "invalid_blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}] * 5, "msg_blocks_too_long"),
        ({"type": "section"}, "invalid_blocks_format"),
    ],
)  # fmt: skip
async def test_blocks_slack_would_refuse_are_refused(slack: Slack, blocks: Any, error: str) -> None:
    refused = await slack_error(slack.client().chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))

    assert refused.response["error"] == error
    assert refused.response["response_metadata"]["messages"][0].startswith("[ERROR] ")


async def test_blocks_that_are_not_json_are_refused_as_a_format_error(slack: Slack) -> None:
    client = slack.client()

    refused = await slack_error(client.api_call("chat.postMessage", data={"channel": CHANNEL, "blocks": "[{"}))

    assert refused.response["error"] == "invalid_blocks_format"


@pytest.mark.parametrize(
    ("token", "error"), [("xoxb-1000000001-2000000002-wrong", "invalid_auth"), (None, "not_authed")]
)
async def test_an_unknown_or_missing_token_is_refused(slack: Slack, token: str | None, error: str) -> None:
    refused = await slack_error(AsyncWebClient(token=token, base_url=slack.api_url).auth_test())

    assert refused.response["error"] == error


async def test_a_token_is_read_from_a_form_field_but_never_from_a_json_body(slack: Slack) -> None:
    url = slack.api_url + "auth.test"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data={"token": BOT_TOKEN}) as response:
            by_form = await response.json()
        async with session.post(url, json={"token": BOT_TOKEN}) as response:
            by_json = await response.json()

    assert (by_form["ok"], by_json) == (True, {"ok": False, "error": "not_authed"})


@pytest.mark.parametrize(("channel", "error"), [("C0UNKNOWN01", "channel_not_found"), (OUTSIDER, "not_in_channel")])
async def test_unknown_channels_and_channels_without_the_bot_are_refused(
    slack: Slack, channel: str, error: str
) -> None:
    client = slack.client()

    posted = await slack_error(client.chat_postMessage(channel=channel, text="x"))
    uploaded = await slack_error(client.files_upload_v2(channel=channel, filename="a.txt", content="a"))

    assert posted.response["error"] == error
    assert uploaded.response["error"] == ("invalid_channel" if error == "channel_not_found" else error)


async def test_conversations_info_says_whether_the_bot_is_a_member(slack: Slack) -> None:
    client = slack.client()

    inside, outside = (
        await client.conversations_info(channel=CHANNEL),
        await client.conversations_info(channel=OUTSIDER),
    )
    missing = await slack_error(client.conversations_info(channel="C0UNKNOWN01"))

    assert (inside["channel"]["is_member"], outside["channel"]["is_member"]) == (True, False)
    assert outside["channel"]["name"] == "outside"
    assert missing.response["error"] == "channel_not_found"


async def test_a_message_needs_text_or_blocks_and_unknown_methods_are_refused(slack: Slack) -> None:
    client = slack.client()

    no_text = await slack_error(client.api_call("chat.postMessage", json={"channel": CHANNEL, "text": ""}))
    unknown = await slack_error(client.api_call("chat.scheduleMessage", json={"channel": CHANNEL}))

    assert (no_text.response["error"], unknown.response["error"]) == ("no_text", "unknown_method")


async def test_a_scripted_failure_answers_the_next_calls_of_that_method_only(slack: Slack) -> None:
    client = slack.client()
    slack.fake.fail_next("chat.update", "edit_window_closed")
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1")

    refused = await slack_error(client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2"))
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v3")

    assert refused.response["error"] == "edit_window_closed"
    assert slack.fake.message(CHANNEL, posted["ts"])["text"] == "v3"


async def test_every_rendering_of_a_job_is_accepted_by_slack(slack: Slack) -> None:
    client = slack.client()
    job = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    status = StatusMessage(job, "demo.render", JobState.RUNNING, Progress(9, 20, "<b>"), "sampling & co", 3.0)
    prompt = ApprovalPrompt(job, "demo.render", {"prompt": "a <red> cat"}, "U024BE7LH")
    result = result_blocks(ResultMessage(job, "demo.render", True, "y" * 30_000, None, (), 9.0))

    posted = await client.chat_postMessage(channel=CHANNEL, text=fallback_text(status), blocks=status_blocks(status))
    asked = await client.chat_postMessage(channel=CHANNEL, text=fallback_text(prompt), blocks=approval_blocks(prompt))
    await client.chat_update(
        channel=CHANNEL, ts=asked["ts"], text="ok", blocks=decided_blocks(prompt, "approved", "U1AB")
    )
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text=result.text, blocks=result.blocks)
    for file in result.files:
        await client.files_upload_v2(channel=CHANNEL, thread_ts=posted["ts"], filename=file.name, content=file.content)

    assert slack.fake.message(CHANNEL, posted["ts"])["blocks"] == result.blocks
    assert slack.fake.files()[0].data == b"y" * 30_000


async def test_slack_bolt_answers_a_signed_slash_command_through_the_fake(slack: Slack) -> None:
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    app = AsyncApp(client=slack.client(), signing_secret=secret)

    @app.command("/swarm")  # type: ignore[untyped-decorator]  # slack_bolt is not type-checked here
    async def swarm(ack: AsyncAck, say: AsyncSay) -> None:
        await ack()
        await say("on it")

    body = urlencode({"command": "/swarm", "text": "run demo.echo", "channel_id": CHANNEL, "user_id": "U024BE7LH",
                      "team_id": TEAM_ID, "trigger_id": "1.2.3", "response_url": "https://example.com/r"})  # fmt: skip
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": timestamp,
               "x-slack-signature": signature or ""}  # fmt: skip

    response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))

    assert response.status == 200
    assert len(slack.fake.calls("auth.test")) == 1  # bolt checks its token once
    assert slack.fake.calls("chat.postMessage") == [{"channel": CHANNEL, "text": "on it", "team_id": TEAM_ID}]
