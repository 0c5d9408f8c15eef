"""The routes the fake answers, one small function each: what Discord does with a valid request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from tests.fakes.discord_api.objects import CALLBACK_ROUTE, GUILD_ID, INTERACTION_CHANNEL_ID
from tests.fakes.discord_api.spec import DiscordApiError, Json

if TYPE_CHECKING:
    from tests.fakes.discord_api.fake import Call, DiscordApiFake

Answer = tuple[int, Any]
Responder = Callable[["DiscordApiFake", "Call"], Awaitable[Answer]]


async def _get_me(fake: DiscordApiFake, call: Call) -> Answer:
    return 200, {**fake.bot_user, "mfa_enabled": False, "locale": "en-US", "verified": True}


async def _create_message(fake: DiscordApiFake, call: Call) -> Answer:
    return 200, fake.new_message(call.params["channel_id"], call.json, call.files)


def _message_in_channel(fake: DiscordApiFake, call: Call) -> Json:
    message = fake.messages.get(call.params["message_id"])
    if message is None or message["channel_id"] != call.params["channel_id"]:
        raise DiscordApiError(404, 10008, "Unknown Message")
    return message


async def _edit_message(fake: DiscordApiFake, call: Call) -> Answer:
    return 200, fake.edit_message(_message_in_channel(fake, call)["id"], call.json, call.files)


async def _start_thread(fake: DiscordApiFake, call: Call) -> Answer:
    message = _message_in_channel(fake, call)
    archive = {"archived": False, "locked": False, "archive_timestamp": datetime.now(UTC).isoformat()}
    archive["auto_archive_duration"] = call.json.get("auto_archive_duration") or 1440
    message["thread"] = {
        "id": message["id"],  # a thread started from a message has the message's id
        "type": 11,
        "guild_id": GUILD_ID,
        "parent_id": message["channel_id"],
        "owner_id": fake.bot_user["id"],
        "name": call.json["name"],
        "flags": 0,
        "last_message_id": None,
        "rate_limit_per_user": call.json.get("rate_limit_per_user") or 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "thread_metadata": archive,
    }
    return 201, message["thread"]


async def _execute_webhook(fake: DiscordApiFake, call: Call) -> Answer:
    fake.follow_up_token(call)
    channel_id = call.query.get("thread_id", INTERACTION_CHANNEL_ID)
    extra = {"webhook_id": fake.application_id, "application_id": fake.application_id}
    message = fake.new_message(channel_id, call.json, call.files, **extra)
    return (200, message) if _true(call.query.get("wait")) else (204, None)


async def _edit_original(fake: DiscordApiFake, call: Call) -> Answer:
    token = fake.follow_up_token(call)
    if token not in fake.originals:
        raise DiscordApiError(404, 10008, "Unknown Message")
    return 200, fake.edit_message(fake.originals[token], call.json, call.files)


async def _edit_follow_up(fake: DiscordApiFake, call: Call) -> Answer:
    fake.follow_up_token(call)  # an answered interaction of ours: its webhook may edit the app's messages
    message = fake.messages.get(call.params["message_id"])
    if message is None or message.get("webhook_id") != fake.application_id:
        raise DiscordApiError(404, 10008, "Unknown Message")
    return 200, fake.edit_message(message["id"], call.json, call.files)


async def _interaction_callback(fake: DiscordApiFake, call: Call) -> Answer:
    message = fake.answer_interaction(call.params["interaction_token"], call.json, call.files)
    if not _true(call.query.get("with_response")):
        return 204, None
    interaction: Json = {"id": call.params["interaction_id"], "type": 2}
    if message is None:
        return 200, {"interaction": interaction}
    interaction["response_message_id"] = message["id"]
    return 200, {"interaction": interaction, "resource": {"type": call.json["type"], "message": message}}


def _put_commands(fake: DiscordApiFake, call: Call, guild_id: str | None) -> Answer:
    if call.params["application_id"] != fake.application_id:
        raise DiscordApiError(403, 50001, "Missing Access")
    made = []
    for command in call.json or []:
        saved: Json = {"id": fake.snowflake(), "application_id": fake.application_id, "version": fake.snowflake()}
        saved |= {"type": 1, "default_member_permissions": None, "nsfw": False, "description": "", **command}
        made.append(saved | ({"guild_id": guild_id} if guild_id else {}))
    fake.commands[guild_id] = made
    return 200, made


async def _put_global_commands(fake: DiscordApiFake, call: Call) -> Answer:
    return _put_commands(fake, call, None)


async def _put_guild_commands(fake: DiscordApiFake, call: Call) -> Answer:
    return _put_commands(fake, call, call.params["guild_id"])


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


RESPONDERS: Final[dict[tuple[str, str], Responder]] = {
    ("GET", "/users/@me"): _get_me,
    ("POST", "/channels/{channel_id}/messages"): _create_message,
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): _edit_message,
    ("POST", "/channels/{channel_id}/messages/{message_id}/threads"): _start_thread,
    ("POST", "/webhooks/{webhook_id}/{webhook_token}"): _execute_webhook,
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"): _edit_original,
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"): _edit_follow_up,
    ("POST", CALLBACK_ROUTE): _interaction_callback,
    ("PUT", "/applications/{application_id}/commands"): _put_global_commands,
    ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands"): _put_guild_commands,
}
