"""The Discord API fake: driven by discord.py's own HTTP layer, strict about bodies, auth, rate limits, answers."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.bot.discord.conftest import DiscordApi
from tests.fakes.discord_api import APPLICATION_ID, BOT_TOKEN, DiscordApiError, DiscordApiFake, load_spec

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord
    from discord.http import HTTPClient, handle_message_parameters

CHANNEL = "1200000000000000010"
JSON_TYPE = {"Content-Type": "application/json"}
TOKEN = "aW50ZXJhY3Rpb246MTIwMDAwMDAwMDAwMDAwMDA5OTp0b2tlbg"


@pytest.fixture
async def bot_http(discord_api: DiscordApi) -> AsyncIterator[HTTPClient]:
    """discord.py's HTTP client for bot routes, logged in to the fake."""
    http = HTTPClient(asyncio.get_running_loop())
    await http.static_login(BOT_TOKEN)
    yield http
    await http.close()


async def answer(api: DiscordApi, kind: int, data: dict[str, Any] | None = None, token: str = TOKEN) -> tuple[int, Any]:
    """Answer an interaction through the callback endpoint, as the hub would when it does not answer inline."""
    body = {"type": kind, **({"data": data} if data is not None else {})}
    return await api.request("POST", f"/interactions/1200000000000000099/{token}/callback", bot=False, json=body)


# --- the spec ---------------------------------------------------------------------------------------------


def test_the_spec_is_loaded_once_per_process() -> None:
    started = time.perf_counter()
    assert load_spec() is load_spec()
    assert DiscordApiFake().spec is DiscordApiFake().spec
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/webhooks/1/tok", "/webhooks/{webhook_id}/{webhook_token}"),
        ("PATCH", "/webhooks/1/tok/messages/@original", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
        ("PATCH", "/webhooks/1/tok/messages/2", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
        ("POST", "/channels/1/messages", "/channels/{channel_id}/messages"),
        ("PATCH", "/channels/1/messages/2", "/channels/{channel_id}/messages/{message_id}"),
        ("POST", "/channels/1/messages/2/threads", "/channels/{channel_id}/messages/{message_id}/threads"),
        ("PUT", "/applications/1/commands", "/applications/{application_id}/commands"),
        ("PUT", "/applications/1/guilds/2/commands", "/applications/{application_id}/guilds/{guild_id}/commands"),
        ("POST", "/interactions/1/tok/callback", "/interactions/{interaction_id}/{interaction_token}/callback"),
        ("GET", "/users/@me", "/users/@me"),
    ],
)
def test_operations_are_found_by_method_and_path_template(method: str, path: str, template: str) -> None:
    found = load_spec().match(method, path)

    assert found is not None and found[0].template == template


def test_bot_routes_need_the_bot_token_and_interaction_routes_do_not() -> None:
    spec = load_spec()

    assert spec.match("POST", "/channels/1/messages")[0].needs_bot_token  # type: ignore[index]
    assert not spec.match("POST", "/webhooks/1/tok")[0].needs_bot_token  # type: ignore[index]
    assert not spec.match("POST", "/interactions/1/tok/callback")[0].needs_bot_token  # type: ignore[index]


# --- driven by discord.py -----------------------------------------------------------------------------------


async def test_interaction_follow_ups_through_discord_py_webhooks(discord_api: DiscordApi) -> None:
    fake = discord_api.fake
    assert (await answer(discord_api, 5))[0] == 204  # deferred: "GarageSwarm is thinking..."
    webhook = discord.Webhook.partial(int(APPLICATION_ID), TOKEN, session=discord_api.session)

    followup = await webhook.send("queued", wait=True)
    done = discord.Embed(title="t.x succeeded")
    original = await webhook.edit_message("@original", content="done", embed=done)  # type: ignore[call-overload]
    with_file = await webhook.send("the output", file=discord.File(__file__, filename="output.txt"), wait=True)

    assert followup.content == "queued" and str(followup.id) in fake.messages
    assert original.content == "done" and original.embeds[0].title == "t.x succeeded"
    assert fake.messages[fake.originals[TOKEN]]["flags"] == 0  # no longer "thinking"
    assert [a.filename for a in with_file.attachments] == ["output.txt"]
    assert fake.calls_to("POST", "/webhooks/{application_id}/{interaction_token}")[1].files[0].filename == "output.txt"
    assert [call.status for call in fake.calls] == [204, 200, 200, 200]
    assert fake.answers_off_spec() == []


async def test_bot_routes_through_discord_py_http(discord_api: DiscordApi, bot_http: HTTPClient) -> None:
    with handle_message_parameters(content="status", allowed_mentions=discord.AllowedMentions.none()) as params:
        message = await bot_http.send_message(CHANNEL, params=params)
    with handle_message_parameters(content="status, edited") as params:
        edited = await bot_http.edit_message(CHANNEL, message["id"], params=params)
    thread = await bot_http.start_thread_with_message(
        CHANNEL, message["id"], name="job 1b4e28ba", auto_archive_duration=1440, rate_limit_per_user=None
    )
    commands = await bot_http.bulk_upsert_global_commands(int(APPLICATION_ID), [{"name": "swarm", "description": "x"}])
    guild = await bot_http.bulk_upsert_guild_commands(int(APPLICATION_ID), 42, [{"name": "swarm", "description": "x"}])

    assert edited["id"] == message["id"] and edited["content"] == "status, edited" and edited["edited_timestamp"]
    assert thread["id"] == message["id"] and thread["parent_id"] == CHANNEL and thread["name"] == "job 1b4e28ba"
    assert [c["name"] for c in commands] == ["swarm"] and discord_api.fake.commands["42"][0]["guild_id"] == "42"
    assert discord_api.fake.commands == {None: commands, "42": guild}
    assert discord_api.fake.answers_off_spec() == []


async def test_a_wrong_bot_token_is_refused_401(discord_api: DiscordApi) -> None:
    http = HTTPClient(asyncio.get_running_loop())
    try:
        with pytest.raises(discord.LoginFailure):
            await http.static_login("not-the-token")
    finally:
        await http.close()
    status, body = await discord_api.request("POST", f"/channels/{CHANNEL}/messages", bot=False, json={"content": "x"})
    assert (status, body) == (401, {"code": 0, "message": "401: Unauthorized"})


async def test_answers_are_exactly_application_json(discord_api: DiscordApi) -> None:
    url = discord_api.base_url + "/users/@me"
    async with discord_api.session.get(url, headers={"Authorization": f"Bot {BOT_TOKEN}"}) as response:
        assert response.headers["Content-Type"] == "application/json"
    async with discord_api.session.get(url) as response:
        assert (response.status, response.headers["Content-Type"]) == (401, "application/json")


# --- invalid bodies ---------------------------------------------------------------------------------------


async def test_a_button_with_a_200_character_custom_id_is_refused_400(discord_api: DiscordApi) -> None:
    button = {"type": 2, "style": 3, "label": "Approve", "custom_id": "x" * 200}
    body = {"content": "approve?", "components": [{"type": 1, "components": [button]}]}

    status, answer_body = await discord_api.request("POST", f"/channels/{CHANNEL}/messages", json=body)

    too_long = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 100 or fewer in length."}]}
    assert status == 400
    assert answer_body == {
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": {"components": {"0": {"components": {"0": {"custom_id": too_long}}}}},
    }
    assert discord_api.fake.messages == {}


async def test_content_over_2000_characters_is_refused_by_discord_py_too(discord_api: DiscordApi) -> None:
    await answer(discord_api, 5)
    webhook = discord.Webhook.partial(int(APPLICATION_ID), TOKEN, session=discord_api.session)

    with pytest.raises(discord.HTTPException) as raised:
        await webhook.send("x" * 2_001, wait=True)

    assert raised.value.status == 400 and raised.value.code == 50035
    assert "Must be 2000 or fewer in length." in raised.value.text


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"content": "hi", "custom-id": "typo"}, {"_errors": [{"code": "SCHEMA_UNEVALUATEDPROPERTIES"}]}),
        ({"content": "hi", "embeds": [{"title": "t", "colour": 1}]}, {"embeds": {"0": {"_errors": [{}]}}}),
        ({"content": 5}, {"content": {"_errors": [{"code": "SCHEMA_TYPE"}]}}),
        ({"embeds": [{"description": "d" * 4_097}]}, {"embeds": {"0": {"description": {"_errors": [{}]}}}}),
        ({"embeds": [{"description": "d" * 4_000}, {"description": "d" * 2_001}]}, {"embeds": {"_errors": [{}]}}),
        ({"embeds": [{"fields": [{"name": "n", "value": " "}]}]}, {"embeds": {"0": {"fields": {"0": {}}}}}),
        ({"embeds": [{"fields": [{"name": "n"}]}]}, {"embeds": {"0": {"fields": {"0": {"value": {}}}}}}),
        ({"content": "x", "attachments": [{"id": "0", "filename": "a.txt"}]}, {"attachments": {"0": {"id": {}}}}),
        ({"components": [{"type": 1, "components": []}]}, {"components": {"0": {"components": {"_errors": [{}]}}}}),
    ],
)
async def test_bodies_discord_would_refuse_are_refused_400(
    discord_api: DiscordApi, body: dict[str, Any], errors: dict[str, Any]
) -> None:
    status, answer_body = await discord_api.request("POST", f"/channels/{CHANNEL}/messages", json=body)

    assert (status, answer_body["code"]) == (400, 50035)
    assert_shape(answer_body["errors"], errors)


def assert_shape(actual: Any, expected: Any) -> None:
    """``expected`` is a sketch of ``actual``: the keys it names exist, lists hold what its first item names."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), actual
        for key, value in expected.items():
            assert key in actual, (key, actual)
            assert_shape(actual[key], value)
    elif isinstance(expected, list) and expected:
        assert isinstance(actual, list) and actual, actual
        assert_shape(actual[0], expected[0])
    else:
        assert actual == expected or expected == [], (actual, expected)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", f"/channels/{CHANNEL}/messages", {"json": {}}, 400, 50006),
        ("POST", f"/channels/{CHANNEL}/messages", {"data": b"{no", "headers": JSON_TYPE}, 400, 50109),
        ("POST", "/channels/general/messages", {"json": {"content": "x"}}, 400, 50035),
        ("POST", f"/channels/{CHANNEL}/messages?nonsense=1", {"json": {"content": "x"}}, 400, 50035),
        ("PATCH", f"/channels/{CHANNEL}/messages/1200000000000000777", {"json": {"content": "x"}}, 404, 10008),
        ("POST", f"/channels/{CHANNEL}/messages/1200000000000000777/threads", {"json": {"name": "t"}}, 404, 10008),
        ("GET", "/no/such/route", {}, 404, 0),
        ("DELETE", f"/channels/{CHANNEL}/messages/1200000000000000777", {}, 501, 0),
        ("PUT", "/applications/1200000000000000666/commands", {"json": []}, 403, 50001),
        ("PUT", f"/applications/{APPLICATION_ID}/commands", {"json": [{"name": "x" * 33}]}, 400, 50035),
    ],
)
async def test_requests_discord_would_refuse_get_discord_shaped_errors(
    discord_api: DiscordApi, method: str, path: str, kwargs: dict[str, Any], status: int, code: int
) -> None:
    answered, body = await discord_api.request(method, path, **kwargs)

    assert (answered, body["code"]) == (status, code)


async def test_the_payload_json_of_a_multipart_body_is_validated(discord_api: DiscordApi) -> None:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps({"content": "x" * 4_001}), content_type="application/json")
    form.add_field("files[0]", b"data", filename="a.txt", content_type="text/plain")

    status, body = await discord_api.request("POST", f"/channels/{CHANNEL}/messages", data=form)

    assert (status, body["errors"]["content"]["_errors"][0]["code"]) == (400, "BASE_TYPE_MAX_LENGTH")


async def test_unknown_multipart_parts_are_refused(discord_api: DiscordApi) -> None:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("payload_json", json.dumps({"content": "x"}), content_type="application/json")
    form.add_field("file", b"data", filename="a.txt")

    assert (await discord_api.request("POST", f"/channels/{CHANNEL}/messages", data=form))[0] == 400


# --- interactions -----------------------------------------------------------------------------------------


async def test_an_interaction_is_answered_once(discord_api: DiscordApi) -> None:
    assert (await answer(discord_api, 4, {"content": "hi", "flags": 64}))[0] == 204
    status, body = await answer(discord_api, 4, {"content": "again"})

    assert (status, body) == (400, {"code": 40060, "message": "Interaction has already been acknowledged."})
    assert discord_api.fake.answered == {TOKEN: 4}


async def test_an_answer_with_response_returns_the_message(discord_api: DiscordApi) -> None:
    status, body = await discord_api.request(
        "POST", f"/interactions/1200000000000000099/{TOKEN}/callback?with_response=true", bot=False,
        json={"type": 4, "data": {"content": "hi"}},
    )  # fmt: skip

    assert status == 200 and body["resource"]["message"]["content"] == "hi"
    assert body["interaction"]["response_message_id"] == discord_api.fake.originals[TOKEN]
    assert discord_api.fake.answers_off_spec() == []


async def test_follow_ups_before_the_interaction_is_answered_are_refused(discord_api: DiscordApi) -> None:
    webhook = discord.Webhook.partial(int(APPLICATION_ID), TOKEN, session=discord_api.session)

    with pytest.raises(discord.NotFound):
        await webhook.send("too early", wait=True)
    with pytest.raises(discord.NotFound):
        await webhook.edit_message("@original", content="too early")  # type: ignore[call-overload]


async def test_follow_ups_for_another_application_are_refused(discord_api: DiscordApi) -> None:
    await answer(discord_api, 5)
    webhook = discord.Webhook.partial(1200000000000000555, TOKEN, session=discord_api.session)

    with pytest.raises(discord.NotFound):
        await webhook.send("wrong app", wait=True)


async def test_a_component_click_answered_with_update_message(discord_api: DiscordApi) -> None:
    data = {"content": "Approved by <@1>", "components": [], "allowed_mentions": {"parse": []}}

    assert (await answer(discord_api, 7, data))[0] == 204
    assert discord_api.fake.calls[-1].json == {"type": 7, "data": data}


async def test_an_answer_given_inline_is_recorded_so_follow_ups_work(discord_api: DiscordApi) -> None:
    discord_api.fake.record_answer(TOKEN, {"type": 5, "data": {"flags": 64}})
    webhook = discord.Webhook.partial(int(APPLICATION_ID), TOKEN, session=discord_api.session)

    edited = await webhook.edit_message("@original", content="done")  # type: ignore[call-overload]

    assert edited.content == "done" and edited.flags.ephemeral


def test_an_inline_answer_discord_would_refuse_is_refused() -> None:
    fake = DiscordApiFake()
    with pytest.raises(DiscordApiError) as raised:
        fake.record_answer(TOKEN, {"type": 4, "data": {"content": "x" * 2_001}})
    assert raised.value.status == 400 and raised.value.body["code"] == 50035

    fake.record_answer(TOKEN, {"type": 4, "data": {"content": "ok"}})
    with pytest.raises(DiscordApiError) as raised:
        fake.record_answer(TOKEN, {"type": 4, "data": {"content": "again"}})
    assert raised.value.body["code"] == 40060


# --- rate limits ------------------------------------------------------------------------------------------


async def test_a_rate_limited_route_answers_429_for_the_next_k_calls(discord_api: DiscordApi) -> None:
    discord_api.fake.rate_limit_next("POST", "/channels/{channel_id}/messages", times=2)
    path = f"/channels/{CHANNEL}/messages"

    answers = [await discord_api.request("POST", path, json={"content": str(i)}) for i in range(3)]
    limited = discord_api.fake.calls[0]

    assert [status for status, _ in answers] == [429, 429, 200]
    assert answers[0][1] == {"message": "You are being rate limited.", "retry_after": 0.5, "global": False}
    assert limited.response == answers[0][1]
    assert [message["content"] for message in discord_api.fake.messages.values()] == ["2"]
    async with discord_api.session.post(
        discord_api.base_url + path, json={"content": "x"}, headers={"Authorization": f"Bot {BOT_TOKEN}"}
    ) as response:
        assert response.status == 200  # the two limited calls are used up; other routes were never limited


async def test_429_headers_are_discords(discord_api: DiscordApi) -> None:
    discord_api.fake.rate_limit_next("PATCH", "/channels/{id}/messages/{id}", retry_after_s=1.5, is_global=True)
    message = discord_api.fake.add_message(CHANNEL, "status")
    url = f"{discord_api.base_url}/channels/{CHANNEL}/messages/{message['id']}"

    bot = {"Authorization": f"Bot {BOT_TOKEN}"}
    async with discord_api.session.patch(url, json={"content": "x"}, headers=bot) as response:
        assert response.status == 429
        assert response.headers["Content-Type"] == "application/json"
        assert await response.json() == {"message": "You are being rate limited.", "retry_after": 1.5, "global": True}
        headers = response.headers
    assert headers["Retry-After"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset-After"] == "1.500"
    assert headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert float(headers["X-RateLimit-Reset"]) > time.time() and headers["X-RateLimit-Bucket"]


async def test_discord_py_waits_out_a_429_and_retries(discord_api: DiscordApi, bot_http: HTTPClient) -> None:
    discord_api.fake.rate_limit_next("POST", "/channels/{channel_id}/messages", times=2, retry_after_s=0.05)

    started = time.perf_counter()
    with handle_message_parameters(content="eventually") as params:
        message = await bot_http.send_message(CHANNEL, params=params)

    assert message["content"] == "eventually" and time.perf_counter() - started >= 0.1
    assert [call.status for call in discord_api.fake.calls_to("POST", "/channels/{c}/messages")] == [429, 429, 200]
