"""The Slack adapter: the neutral chat model posted through the Web API (slack_sdk's async client).

Errors are sorted once here: 429 / ``ratelimited`` → :class:`ChatRateLimited` (the caller waits
Retry-After and tries again); ``invalid_auth``, ``channel_not_found``, ``not_in_channel`` and
their kin → :class:`ChatDeliveryError` (reported, never retried); anything else propagates."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

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
from bot.slack.blocks import (
    ApprovalDecision,
    approval_blocks,
    decided_blocks,
    decided_text,
    fallback_text,
    reply_blocks,
    result_blocks,
    status_blocks,
)  # fmt: skip

PLATFORM = "slack"
PERMANENT_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "channel_not_found", "not_in_channel",
     "is_archived", "missing_scope", "no_permission", "restricted_action"}
)  # fmt: skip


async def _call(request: Awaitable[Any]) -> Any:
    try:
        return await request
    except SlackApiError as exc:
        response = exc.response
        error = str(response.get("error", "")) if response is not None else ""
        if response is not None and (response.status_code == 429 or error == "ratelimited"):
            raise ChatRateLimited(PLATFORM, float(response.headers.get("Retry-After", "1"))) from exc
        if error in PERMANENT_ERRORS:
            raise ChatDeliveryError(PLATFORM, error) from exc
        raise


class TokenSource(Protocol):
    """Finds the bot token of a workspace (an installation's, or the single configured one)."""

    async def token_for(self, team_id: str | None) -> str | None: ...


class SlackAdapter:
    """Posts to each workspace with its own bot token."""

    def __init__(self, tokens: TokenSource, api_url: str) -> None:
        self.tokens = tokens
        self.api_url = api_url
        self._clients: dict[str, AsyncWebClient] = {}

    async def client(self, team_id: str | None) -> AsyncWebClient:
        token = await self.tokens.token_for(team_id)
        if token is None:
            raise ChatDeliveryError(PLATFORM, f"not_installed: no token for workspace {team_id}")
        if token not in self._clients:
            self._clients[token] = AsyncWebClient(token=token, base_url=self.api_url)
        return self._clients[token]

    async def post_status(self, thread: ThreadRef, status: StatusMessage) -> str:
        response = await _call(
            (await self.client(thread.team)).chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread, text=fallback_text(status),
                blocks=status_blocks(status),
            )
        )  # fmt: skip
        return str(response["ts"])

    async def update_status(self, thread: ThreadRef, message_id: str, status: StatusMessage) -> None:
        await _call(
            (await self.client(thread.team)).chat_update(
                channel=thread.channel, ts=message_id, text=fallback_text(status), blocks=status_blocks(status)
            )
        )

    async def post_result(self, thread: ThreadRef, result: ResultMessage) -> None:
        rendered = result_blocks(result)
        await _call(
            (await self.client(thread.team)).chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread, text=rendered.text, blocks=rendered.blocks
            )
        )
        for text_file in rendered.files:
            await _call(
                (await self.client(thread.team)).files_upload_v2(
                    channel=thread.channel, thread_ts=thread.thread, filename=text_file.name,
                    title=text_file.name, content=text_file.content,
                )
            )  # fmt: skip

    async def post_attachment(self, thread: ThreadRef, attachment: Attachment, data: bytes) -> None:
        await _call(
            (await self.client(thread.team)).files_upload_v2(
                channel=thread.channel, thread_ts=thread.thread, filename=attachment.name, title=attachment.name,
                alt_txt=attachment.alt_text or attachment.name, file=data,
            )
        )  # fmt: skip

    async def post_approval(self, thread: ThreadRef, prompt: ApprovalPrompt) -> str:
        response = await _call(
            (await self.client(thread.team)).chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread, text=fallback_text(prompt),
                blocks=approval_blocks(prompt),
            )
        )  # fmt: skip
        return str(response["ts"])

    async def decide_approval(
        self, thread: ThreadRef, message_id: str, prompt: ApprovalPrompt, decision: str, by_user_id: str
    ) -> None:
        verdict: ApprovalDecision = "approved" if decision == "approved" else "denied"
        await _call(
            (await self.client(thread.team)).chat_update(
                channel=thread.channel, ts=message_id, text=decided_text(prompt, verdict, by_user_id),
                blocks=decided_blocks(prompt, verdict, by_user_id),
            )
        )  # fmt: skip

    async def reply(self, thread: ThreadRef, reply: ChatReply) -> None:
        await _call(
            (await self.client(thread.team)).chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread, text=fallback_text(reply), blocks=reply_blocks(reply)
            )
        )

    async def user_group_members(self, team_id: str | None, group_id: str) -> list[str]:
        """The members of a user group (approvers may be given as a group)."""
        response = await _call((await self.client(team_id)).usergroups_users_list(usergroup=group_id))
        return [str(user) for user in response.get("users", [])]

    async def reply_privately(self, team_id: str | None, channel: str, user: str, reply: ChatReply) -> None:
        """An ephemeral answer only ``user`` sees (command answers, refusals)."""
        await _call(
            (await self.client(team_id)).chat_postEphemeral(
                channel=channel, user=user, text=fallback_text(reply), blocks=reply_blocks(reply)
            )
        )
