"""The Discord adapter: the neutral chat model posted through Discord's REST API (aiohttp).

A job started by a slash command reports through its interaction's webhook (the deferred ``@original``
message becomes the status message, everything else is a follow-up) for as long as the interaction token
lives; after that, and for jobs that no interaction started (webhooks), the bot token posts in the channel,
replying to the job's status message. The interaction's token and time travel in the thread reference's
``thread`` (``interaction:<unix seconds>:<token>``), so no state lives in the process.

Errors are sorted once here: 429 → :class:`ChatRateLimited` (``retry_after``); 5xx and network failures →
:class:`DiscordUnavailable` (a rate limit of one second: try again); any other 4xx (401, 403, 404, a body
Discord refuses) → :class:`ChatDeliveryError`, reported and never retried."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from bot.discord.components import (
    ApprovalDecision,
    FormPart,
    approval_message,
    decided_message,
    reply_message,
    result_message,
    status_message,
)  # fmt: skip
from bot.ports import (
    ApprovalPrompt,
    Attachment,
    ChatDeliveryError,
    ChatRateLimited,
    ChatReply,
    ResultMessage,
    StatusMessage,
    ThreadRef,
)  # fmt: skip

PLATFORM: Final = "discord"
INTERACTION_PREFIX: Final = "interaction:"
TOKEN_TTL_S: Final = 14 * 60.0  # Discord's interaction tokens live 15 minutes; keep a minute in hand
REQUEST_TIMEOUT_S: Final = 30.0
UNAVAILABLE_RETRY_S: Final = 1.0
_SNOWFLAKE: Final = re.compile(r"[0-9]{1,20}")
_EDIT_FLAGS_DROPPED: Final = ("flags",)  # a message's visibility is set when it is created, not on edit


class DiscordUnavailable(ChatRateLimited):
    """Discord answered 5xx or could not be reached: a transient failure, tried again after a second."""


@dataclass(frozen=True)
class Interaction:
    """A slash command's interaction: its webhook token and when the hub received it."""

    token: str
    received_at: float


def interaction_thread(token: str, received_at: float) -> str:
    """The ``thread`` of a job started by an interaction (read back by :func:`interaction_of`)."""
    return f"{INTERACTION_PREFIX}{int(received_at)}:{token}"


def interaction_of(thread: str | None) -> Interaction | None:
    """The interaction a ``thread`` names, or None for a channel thread (a message id or nothing)."""
    if not thread or not thread.startswith(INTERACTION_PREFIX):
        return None
    received, _, token = thread[len(INTERACTION_PREFIX) :].partition(":")
    if not received.isdigit() or not token:
        return None
    return Interaction(token, float(received))


def decided_body(prompt: ApprovalPrompt, decision: str, by: str) -> dict[str, Any]:
    """The decided approval message; ``by`` is a user id (shown as a mention) or a word such as ``timeout``."""
    verdict = ApprovalDecision.APPROVE if decision in ("approved", "approve") else ApprovalDecision.DENY
    if _SNOWFLAKE.fullmatch(by):
        return decided_message(prompt, verdict, by)
    body = decided_message(prompt, verdict, "0")
    word = "Approved" if verdict is ApprovalDecision.APPROVE else "Denied"
    body["content"] = f"{word} by {by[:100]}"
    return body


class DiscordAdapter:
    """Posts through interaction webhooks while their tokens live, else with the bot token."""

    def __init__(
        self,
        api_url: str,
        application_id: str | None,
        bot_token: str | None,
        *,
        session: aiohttp.ClientSession | None = None,
        token_ttl_s: float = TOKEN_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.application_id = application_id
        self.bot_token = bot_token
        self.session = session
        self.token_ttl_s = token_ttl_s
        self.clock = clock

    # --- ChatAdapter ------------------------------------------------------------------------------
    async def post_status(self, thread: ThreadRef, status: StatusMessage) -> str:
        body = status_message(status)
        live = self._live(thread)
        if live is not None:  # the deferred "thinking…" answer becomes the status message
            message = await self._call("PATCH", f"{self._webhook(live)}/messages/@original", body=_edit(body))
        else:
            message = await self._post_in_channel(thread, body)
        return str(message["id"])

    async def update_status(self, thread: ThreadRef, message_id: str, status: StatusMessage) -> None:
        await self._edit(thread, message_id, status_message(status))

    async def post_result(self, thread: ThreadRef, result: ResultMessage) -> None:
        rendered = result_message(result)
        await self._post(thread, rendered.payload, rendered.form_parts()[1:])  # the files; the body goes as JSON

    async def post_attachment(self, thread: ThreadRef, attachment: Attachment, data: bytes) -> None:
        item: dict[str, Any] = {"id": "0", "filename": attachment.name}
        if attachment.alt_text:
            item["description"] = attachment.alt_text[:1024]
        body = {"attachments": [item], "allowed_mentions": {"parse": []}}
        file = FormPart("files[0]", data, attachment.mime_type or "application/octet-stream", attachment.name)
        await self._post(thread, body, [file])

    async def post_approval(self, thread: ThreadRef, prompt: ApprovalPrompt) -> str:
        message = await self._post(thread, approval_message(prompt), ())
        return str(message["id"])

    async def decide_approval(
        self, thread: ThreadRef, message_id: str, prompt: ApprovalPrompt, decision: str, by_user_id: str
    ) -> None:
        await self._edit(thread, message_id, decided_body(prompt, decision, by_user_id))

    async def reply(self, thread: ThreadRef, reply: ChatReply) -> None:
        await self._post(thread, reply_message(reply), ())

    async def answer(self, thread: ThreadRef, reply: ChatReply) -> None:
        """Answer a deferred slash command in place (its ``@original``), or in the channel once the token is gone."""
        live = self._live(thread)
        if live is None:
            await self._post_in_channel(thread, reply_message(ChatReply(reply.text)))
            return
        await self._call("PATCH", f"{self._webhook(live)}/messages/@original", body=_edit(reply_message(reply)))

    async def register_commands(self, commands: list[dict[str, Any]], guild_id: str | None = None) -> list[Any]:
        """Overwrite the application's commands (in one guild when ``guild_id``, else globally)."""
        if not self.application_id:
            raise ChatDeliveryError(PLATFORM, "DISCORD_APPLICATION_ID is not set")
        path = f"/applications/{self.application_id}"
        path += f"/guilds/{guild_id}/commands" if guild_id else "/commands"
        answer = await self._call("PUT", path, body=commands, bot=True)
        return list(answer) if isinstance(answer, list) else []

    # --- routing ----------------------------------------------------------------------------------
    def _live(self, thread: ThreadRef) -> Interaction | None:
        """The thread's interaction while its token can still be used."""
        interaction = interaction_of(thread.thread)
        if interaction is None or self.clock() - interaction.received_at > self.token_ttl_s:
            return None
        return interaction

    def _webhook(self, interaction: Interaction) -> str:
        if not self.application_id:
            raise ChatDeliveryError(PLATFORM, "DISCORD_APPLICATION_ID is not set")
        return f"/webhooks/{self.application_id}/{interaction.token}"

    async def _post(self, thread: ThreadRef, body: dict[str, Any], files: Sequence[FormPart]) -> Any:
        live = self._live(thread)
        if live is not None:
            return await self._call("POST", self._webhook(live), body=body, files=files, params={"wait": "true"})
        return await self._post_in_channel(thread, body, files)

    async def _post_in_channel(self, thread: ThreadRef, body: dict[str, Any], files: Sequence[FormPart] = ()) -> Any:
        if thread.thread and _SNOWFLAKE.fullmatch(thread.thread):  # a reply to the job's status message
            body = {**body, "message_reference": {"message_id": thread.thread, "fail_if_not_exists": False}}
        return await self._call("POST", f"/channels/{thread.channel}/messages", body=body, files=files, bot=True)

    async def _edit(self, thread: ThreadRef, message_id: str, body: dict[str, Any]) -> None:
        live = self._live(thread)
        if live is not None:
            await self._call("PATCH", f"{self._webhook(live)}/messages/{message_id}", body=_edit(body))
        else:
            await self._call("PATCH", f"/channels/{thread.channel}/messages/{message_id}", body=_edit(body), bot=True)

    # --- HTTP -------------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        files: Sequence[FormPart] = (),
        params: dict[str, str] | None = None,
        bot: bool = False,
    ) -> Any:
        headers = {"User-Agent": "DiscordBot (https://github.com/garageswarm, 1.0)"}
        if bot:
            if not self.bot_token:
                raise ChatDeliveryError(PLATFORM, "DISCORD_BOT_TOKEN is not set")
            headers["Authorization"] = f"Bot {self.bot_token}"
        request: dict[str, Any] = {"headers": headers, "params": params}
        if files:  # multipart: the body as ``payload_json``, then ``files[i]``
            request["data"] = _form([FormPart("payload_json", json.dumps(body), "application/json"), *files])
        elif body is not None:
            request["json"] = body
        try:
            if self.session is not None:
                return await _send(self.session, method, self.api_url + path, request)
            async with aiohttp.ClientSession() as session:
                return await _send(session, method, self.api_url + path, request)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise DiscordUnavailable(PLATFORM, UNAVAILABLE_RETRY_S) from exc


async def _send(session: aiohttp.ClientSession, method: str, url: str, request: dict[str, Any]) -> Any:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with session.request(method, url, timeout=timeout, **request) as response:
        if response.status == 204:
            return None
        answer = await response.json(content_type=None) if response.content_length != 0 else None
        if response.status < 300:
            return answer
        raise _classify(response.status, response.headers, answer)


def _classify(status: int, headers: Any, answer: Any) -> Exception:
    """One place that sorts Discord's refusals: rate limited, transient, or permanent."""
    details = answer if isinstance(answer, dict) else {}
    if status == 429:
        retry_after = details.get("retry_after") or headers.get("Retry-After") or UNAVAILABLE_RETRY_S
        return ChatRateLimited(PLATFORM, float(retry_after))
    if status >= 500:
        return DiscordUnavailable(PLATFORM, UNAVAILABLE_RETRY_S)
    message = str(details.get("message") or "refused")[:200]
    return ChatDeliveryError(PLATFORM, f"{status} {details.get('code', 0)}: {message}")


def _edit(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in _EDIT_FLAGS_DROPPED}


def _form(parts: Sequence[FormPart]) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    for part in parts:
        data.add_field(part.name, part.value, content_type=part.content_type, filename=part.filename)
    return data


__all__ = [
    "DiscordAdapter",
    "DiscordUnavailable",
    "Interaction",
    "decided_body",
    "interaction_of",
    "interaction_thread",
]
