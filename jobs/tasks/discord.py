"""Carrying out recorded Discord slash commands in the hub worker.

The interaction was answered "deferred" on the ack path; a job's status message then replaces the
"thinking…" answer (``jobs.tasks.notify`` through :class:`bot.discord.adapter.DiscordAdapter`), and any
other command is answered in place."""

from __future__ import annotations

import logging
from typing import Any

from bot.discord.adapter import DiscordAdapter, interaction_thread
from bot.ports import ChatReply, ThreadRef
from hub.db.models import DeliveryStatus, Origin
from hub.services.admin import chat_tenant
from hub.services.commands import Requester, chat_permissions, handle_text

from ..context import context_of
from .chat import claim, deliver_answer

log = logging.getLogger(__name__)
PLATFORM = "discord"


async def discord_command(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """A ``/swarm`` interaction: a job reports through the interaction; anything else is answered in place."""
    context = context_of(ctx)
    delivery = await claim(int(payload["delivery_id"]))
    if delivery is None:
        return "already handled"
    guild, channel, user = str(payload["guild_id"]), str(payload["channel_id"]), str(payload["user_id"])
    thread = interaction_thread(str(payload["token"]), float(payload["received_at"]))
    tenant_id = await chat_tenant("discord", guild or None)  # a guild with its own tenant uses it
    requester = Requester(
        tenant_id=tenant_id, origin=Origin.DISCORD, identity=f"discord:{guild or 'dm'}:{user}",
        thread_ref={"platform": PLATFORM, "channel": channel, "thread": thread, "team": guild or None},
        max_retries=context.settings.max_retries, idempotency_key=f"discord:{payload['interaction_id']}",
        sign_in_url=context.settings.hub_url if context.settings.oidc_issuer else None,
        permissions=await chat_permissions(f"discord:{guild or 'dm'}:{user}", context.settings),
    )  # fmt: skip
    outcome = await handle_text(context.services, requester, str(payload["text"]))
    delivery.status, delivery.job_id = DeliveryStatus.PROCESSED, outcome.job.id if outcome.job else None
    await delivery.save(update_fields=["status", "job_id"])
    adapter = context.adapters.get(PLATFORM)
    if outcome.follow or not isinstance(adapter, DiscordAdapter):
        return outcome.reply
    where = ThreadRef(PLATFORM, channel, thread, guild or None)
    await deliver_answer(lambda: adapter.answer(where, ChatReply(outcome.reply)))
    return outcome.reply
