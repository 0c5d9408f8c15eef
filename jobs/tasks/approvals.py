"""Approval decisions that arrive in the hub worker: timeouts and clicks on chat buttons."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from bot.ports import ChatReply
from bot.slack.adapter import SlackAdapter
from hub.db.models import DeliveryStatus, InboundDelivery, Job
from hub.errors import NotFound
from hub.security.roles import ChatMember
from hub.sso.chat_grants import may_approve
from jobs.lifecycle import Decision

from ..context import WorkerContext, context_of
from .chat import deliver_answer

log = logging.getLogger(__name__)


async def approval_timeout(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """An approval nobody gave in time counts as denied (the request of the attempt it was set for: a retried
    job asks again, with a timeout of its own)."""
    context = context_of(ctx)
    job = await Job.get_or_none(id=payload["job_id"]).only("id", "tenant_id", "attempt")
    if job is None:
        return "no such job"
    if payload.get("attempt", job.attempt) != job.attempt:
        return "stale: the job asked again since"
    _, decided, reason = await context.services.decide(job.tenant_id, job.id, Decision.DENIED, by="timeout")  # type: ignore[attr-defined]
    return "denied: timed out" if decided else reason


async def slack_approval_click(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """A click on Approve / Deny: only approvers decide, and a job is decided once."""
    context = context_of(ctx)
    delivery = await InboundDelivery.get_or_none(id=int(payload["delivery_id"]))
    if delivery is None or delivery.status is not DeliveryStatus.RECEIVED:
        return "already handled"
    delivery.status = DeliveryStatus.PROCESSED
    await delivery.save(update_fields=["status"])
    adapter = context.adapters.get("slack")
    if not isinstance(adapter, SlackAdapter):
        return "slack is not configured"
    user, channel = str(payload["user_id"]), str(payload["channel_id"])
    answer = await _decide_click(context, adapter, payload, user)
    reply = ChatReply(text=answer, ephemeral=True)
    await deliver_answer(lambda: adapter.reply_privately(str(payload["team_id"]), channel, user, reply))
    return answer


async def _decide_click(context: WorkerContext, adapter: SlackAdapter, payload: dict[str, Any], user: str) -> str:
    team = str(payload["team_id"])
    by = f"slack:{team}:{user}"

    async def in_group(group: str) -> bool:  # a click does not say which user groups the clicker is in
        return user in await adapter.user_group_members(team, group)

    # A chat grant (SLACK_APPROVERS, an admin's) names the user or a group they are in, or their linked person approves.
    if not await may_approve(ChatMember("slack", team, user), context.settings, in_group):
        return "Only approvers can approve or deny this job; nothing was changed."
    decision = Decision.APPROVED if payload["action"] == "approve" else Decision.DENIED
    try:
        job_id = UUID(str(payload["job_id"]))
    except ValueError:
        return "This button is not one of ours; nothing was changed."
    job = await Job.get_or_none(id=job_id).only("id", "tenant_id")
    if job is None:
        return "This button is stale: the job no longer exists."
    try:
        _, decided, reason = await context.services.decide(job.tenant_id, job_id, decision, by=by, user_id=user)  # type: ignore[attr-defined]
    except NotFound:
        return "This button is stale: the job no longer exists."
    return f"You {decision.value} the job." if decided else reason[0].upper() + reason[1:] + "."
