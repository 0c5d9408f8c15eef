"""Discord's objects as the fake answers them, and the rules Discord enforces on messages beyond its spec."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Final

from tests.fakes.discord_api.spec import DiscordApiError, Json, Operation, form_error

BOT_TOKEN: Final = "MTEwMDAwMDAwMDAwMDAwMDAwMg.GfakeX.garageswarm-test-bot-token"
APPLICATION_ID: Final = "1100000000000000001"
BOT_USER_ID: Final = "1100000000000000002"
GUILD_ID: Final = "1100000000000000003"
INTERACTION_CHANNEL_ID: Final = "1100000000000000004"
DISCORD_EPOCH_MS: Final = 1_420_070_400_000
MAX_EMBEDS_TOTAL_CHARS: Final = 6_000
LOADING_FLAG: Final = 1 << 7  # a deferred answer shows "... is thinking" until @original is edited
CALLBACK_ROUTE: Final = "/interactions/{interaction_id}/{interaction_token}/callback"
MESSAGE_ROUTES: Final = frozenset(
    {
        "/channels/{channel_id}/messages",
        "/channels/{channel_id}/messages/{message_id}",
        "/webhooks/{webhook_id}/{webhook_token}",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        CALLBACK_ROUTE,
    }
)
_MESSAGE_PARTS: Final = ("content", "embeds", "components", "attachments", "sticker_ids", "poll")


@dataclass(frozen=True)
class UploadedFile:
    """A ``files[n]`` part of a multipart request."""

    index: int
    filename: str
    content_type: str
    data: bytes


def bot_user() -> Json:
    """The bot's user object, as message authors carry it."""
    return {
        "id": BOT_USER_ID,
        "username": "GarageSwarm",
        "discriminator": "0000",
        "global_name": None,
        "avatar": None,
        "bot": True,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
    }


def stored_embed(embed: Json) -> Json:
    """An embed as Discord returns it: ``type`` rich, no nulls, every field's ``inline`` set."""
    stored = {"type": "rich", **_no_nulls(embed)}
    if "fields" in stored:
        stored["fields"] = [{"inline": False, **_no_nulls(item)} for item in stored["fields"]]
    return stored


def numbered(components: list[Json]) -> list[Json]:
    """Components as Discord returns them: no nulls, each with an ``id`` (1, 2, ... depth first) unless it had one."""
    counter = itertools.count(1)

    def number(component: Json) -> Json:
        result = _no_nulls(component)
        result.setdefault("id", next(counter))
        if "components" in result:
            result["components"] = [number(child) for child in result["components"]]
        return result

    return [number(component) for component in components]


def check_message_rules(body: Any, files: list[UploadedFile], op: Operation) -> None:
    """What Discord enforces on messages beyond the spec: embed size, blank fields, attachments, emptiness."""
    creating = op.method == "POST"
    if op.template.endswith("/callback"):
        creating = body["type"] == 4
        body = body.get("data") or {}
    embeds = body.get("embeds") or []
    if sum(map(embed_chars, embeds)) > MAX_EMBEDS_TOTAL_CHARS:
        message = f"Embed size exceeds maximum size of {MAX_EMBEDS_TOTAL_CHARS}"
        raise form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", message)
    for i, embed in enumerate(embeds):
        for j, item in enumerate(embed.get("fields") or []):
            if not item["name"].strip() or not item["value"].strip():
                raise form_error(["embeds", str(i), "fields", str(j)], "BASE_TYPE_REQUIRED", "This field is required")
    uploaded = {file.index for file in files}
    for i, attachment in enumerate(body.get("attachments") or []):
        if creating and int(attachment["id"]) not in uploaded:
            raise form_error(["attachments", str(i), "id"], "ATTACHMENT_NOT_FOUND", "Unknown attachment")
    if creating and not files and not any(body.get(part) for part in _MESSAGE_PARTS):
        raise DiscordApiError(400, 50006, "Cannot send an empty message")


def embed_chars(embed: Json) -> int:
    """The characters Discord counts towards its 6,000 across a message's embeds.

    Written here again rather than imported from bot.discord: the fake is the oracle the renderer is checked by.
    """
    texts = [embed.get("title"), embed.get("description")]
    texts += [(embed.get("footer") or {}).get("text"), (embed.get("author") or {}).get("name")]
    texts += [text for item in embed.get("fields") or [] for text in (item.get("name"), item.get("value"))]
    return sum(len(text) for text in texts if isinstance(text, str))


def _no_nulls(obj: Json) -> Json:
    return {key: value for key, value in obj.items() if value is not None}
