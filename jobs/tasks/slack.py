"""Carrying out a recorded Slack slash command in the hub worker."""

from __future__ import annotations

import logging
from typing import Any

from bot.ports import ChatDeliveryError, ChatReply
from bot.slack.adapter import SlackAdapter
from hub.db.models import DeliveryStatus, InboundDelivery, Origin
from hub.services.admin import ensure_tenant
from hub.services.commands import Requester, handle_text

from ..context import context_of

log = logging.getLogger(__name__)


async def slack_command(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """Run the command; a job reports in its own thread, anything else is answered privately."""
    context = context_of(ctx)
    delivery = await InboundDelivery.get_or_none(id=int(payload["delivery_id"]))
    if delivery is None or delivery.status is not DeliveryStatus.RECEIVED:
        return "already handled"
    tenant = await ensure_tenant()  # single-workspace mode: the workspace is the default tenant
    team, channel, user = str(payload["team_id"]), str(payload["channel_id"]), str(payload["user_id"])
    requester = Requester(
        tenant_id=tenant.id, origin=Origin.SLACK, identity=f"slack:{team}:{user}",
        thread_ref={"platform": "slack", "channel": channel, "thread": None, "team": team},
        max_retries=context.settings.max_retries, idempotency_key=f"slack:{payload['trigger_id']}",
    )  # fmt: skip
    outcome = await handle_text(context.services, requester, str(payload.get("text", "")))
    delivery.status, delivery.job_id = DeliveryStatus.PROCESSED, outcome.job.id if outcome.job else None
    await delivery.save(update_fields=["status", "job_id"])
    adapter = context.adapters.get("slack")
    if outcome.follow or not isinstance(adapter, SlackAdapter):
        return outcome.reply
    try:
        await adapter.reply_privately(channel, user, ChatReply(text=outcome.reply, ephemeral=True))
    except ChatDeliveryError as exc:
        log.error("could not answer a Slack command", extra={"error": exc.error, "channel": channel})
    return outcome.reply
