"""Carrying out recorded Slack commands (slash commands and @mentions) in the hub worker."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.ports import ChatReply, ThreadRef
from bot.slack.adapter import SlackAdapter
from hub.db.models import DeliveryStatus, InboundDelivery, Origin
from hub.services.commands import Requester, chat_permissions, handle_text

from ..context import WorkerContext, context_of
from .chat import claim, deliver_answer

log = logging.getLogger(__name__)
_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>\s*")


@dataclass(frozen=True)
class SlackCommand:
    team: str
    channel: str
    user: str
    text: str
    invocation: str  # the platform's id of this invocation (trigger id, event id): a repeat runs once
    thread: str | None = None  # set for @mentions: everything is answered in that thread


def mention_text(text: str) -> str:
    """``<@U123> tool demo.echo text=hi`` → ``tool demo.echo text=hi`` (Slack escapes &, <, > in text)."""
    stripped = _LEADING_MENTION.sub("", text, count=1)
    return stripped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def _carry_out(context: WorkerContext, delivery: InboundDelivery, command: SlackCommand) -> str:
    tenant_id = await context.workspaces.tenant_for(command.team)
    requester = Requester(
        tenant_id=tenant_id, origin=Origin.SLACK, identity=f"slack:{command.team}:{command.user}",
        thread_ref={"platform": "slack", "channel": command.channel, "thread": command.thread, "team": command.team},
        max_retries=context.settings.max_retries, idempotency_key=f"slack:{command.invocation}",
        sign_in_url=context.settings.hub_url if context.settings.oidc_issuer else None,
        permissions=await chat_permissions(f"slack:{command.team}:{command.user}", context.settings),
    )  # fmt: skip
    outcome = await handle_text(context.services, requester, command.text)
    delivery.status, delivery.job_id = DeliveryStatus.PROCESSED, outcome.job.id if outcome.job else None
    await delivery.save(update_fields=["status", "job_id"])
    adapter = context.adapters.get("slack")
    if outcome.follow or not isinstance(adapter, SlackAdapter):
        return outcome.reply
    reply = ChatReply(text=outcome.reply, ephemeral=command.thread is None or outcome.private)
    if reply.ephemeral:
        await deliver_answer(lambda: adapter.reply_privately(command.team, command.channel, command.user, reply))
    else:
        thread = ThreadRef("slack", command.channel, command.thread, command.team)
        await deliver_answer(lambda: adapter.reply(thread, reply))
    return outcome.reply


async def slack_command(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """A /swarm slash command: a job reports in its own thread; anything else is answered privately."""
    delivery = await claim(int(payload["delivery_id"]))
    if delivery is None:
        return "already handled"
    command = SlackCommand(
        team=str(payload["team_id"]), channel=str(payload["channel_id"]), user=str(payload["user_id"]),
        text=str(payload.get("text", "")), invocation=str(payload.get("invocation") or payload["trigger_id"]),
    )  # fmt: skip
    return await _carry_out(context_of(ctx), delivery, command)


async def slack_mention(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """``@GarageSwarm <command>`` in a channel: like the slash command, answered in the mention's thread."""
    delivery = await claim(int(payload["delivery_id"]))
    if delivery is None:
        return "already handled"
    command = SlackCommand(
        team=str(payload["team_id"]), channel=str(payload["channel_id"]), user=str(payload["user_id"]),
        text=mention_text(str(payload.get("text", ""))), invocation=str(payload["event_id"]),
        thread=str(payload.get("thread_ts") or payload["ts"]),
    )  # fmt: skip
    return await _carry_out(context_of(ctx), delivery, command)
