"""The Discord door, ``POST /discord/interactions``: verify the Ed25519 signature on the raw body, then answer.

* PING → PONG.
* ``/swarm`` (APPLICATION_COMMAND) → recorded with an outbox row in one statement (a repeated interaction id
  inserts nothing) and answered DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE at once; the hub worker carries it out
  (``jobs.tasks.discord``) and the job's messages follow through the interaction's webhook.
* AUTOCOMPLETE of the tool name → the tenant's tool catalog.
* A click on Approve / Deny (MESSAGE_COMPONENT) → decided here, by the member Discord signed for; the
  message is updated in place (type 7), and anyone else gets an ephemeral explanation that changes nothing.

Any signature failure, or a timestamp more than five minutes off, answers 401 and changes nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any, Final
from uuid import UUID

from aiohttp import web
from pydantic import ValidationError
from tortoise import connections

from bot.discord.commands import (
    InteractionDataError,
    autocomplete_choices,
    command_text,
    focused_option,
)  # fmt: skip
from bot.discord.components import EPHEMERAL_FLAG, ApprovalDecision, decided_message, parse_approval_custom_id
from bot.ports import ApprovalPrompt
from hub.doors import first_problem, parse_json, read_bounded, repeated_header
from hub.errors import BadRequest, NotFound, Unauthorized
from hub.keys import JOBS, OUTBOX_WAKER, SETTINGS
from hub.openapi import Response, endpoint
from hub.routes.discord_schemas import DiscordInteraction
from hub.security.discord import DiscordSignatureError, verify_discord_request
from hub.security.roles import ChatMember
from hub.services.admin import chat_tenant
from hub.settings import Settings
from hub.sso.chat_grants import may_approve
from jobs import outbox
from jobs.lifecycle import Decision
from jobs.queue import HUB_QUEUE

log = logging.getLogger(__name__)
DISCORD_COMMAND_TASK: Final = "discord_command"
INTERACTION_SOURCE: Final = "discord:interaction"
SIGNATURE_WINDOW_S: Final = 300.0
SIGNATURE_HEADER: Final = "X-Signature-Ed25519"
TIMESTAMP_HEADER: Final = "X-Signature-Timestamp"
MAX_TEXT: Final = 4000
NOT_AN_APPROVER: Final = "Only approvers can approve or deny this job; nothing was changed."
STALE_BUTTON: Final = "This button is stale: the job no longer exists."


class InteractionType(IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4


class Callback(IntEnum):
    """Interaction response types we answer with."""

    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8


Handler = Callable[[web.Application, DiscordInteraction], Awaitable[dict[str, Any]]]


def verify(settings: Settings, request: web.Request, body: bytes, now: float) -> None:
    """Raise Unauthorized unless Discord signed ``timestamp + body`` recently with the application's key."""
    assert settings.discord_public_key is not None
    if (repeated := repeated_header(request.headers, (SIGNATURE_HEADER, TIMESTAMP_HEADER))) is not None:
        raise Unauthorized(f"invalid request signature: {repeated} given more than once")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    try:
        verify_discord_request(settings.discord_public_key, request.headers.get(SIGNATURE_HEADER, ""), timestamp, body)
    except DiscordSignatureError as exc:
        raise Unauthorized(f"invalid request signature: {exc.reason}") from None
    if not timestamp.isdigit() or abs(now - int(timestamp)) > SIGNATURE_WINDOW_S:
        raise Unauthorized("invalid request signature: the timestamp is too far from now")


def ephemeral(text: str) -> dict[str, Any]:
    """An answer only the person who acted sees."""
    content = {"content": text, "flags": EPHEMERAL_FLAG, "allowed_mentions": {"parse": []}}
    return {"type": int(Callback.CHANNEL_MESSAGE), "data": content}


async def on_command(app: web.Application, interaction: DiscordInteraction) -> dict[str, Any]:
    """Record the command and defer: the hub worker answers through the interaction's webhook."""
    data = interaction.command_data()
    try:
        text = command_text(data)
    except InteractionDataError as exc:
        return ephemeral(f"{exc}. Try /swarm help")
    interaction_id = interaction.id
    command = {
        "interaction_id": interaction_id, "token": interaction.token, "guild_id": interaction.guild_id or "",
        "channel_id": interaction.channel_ref(), "user_id": interaction.user_id(), "text": text[:MAX_TEXT],
        "received_at": time.time(),
    }  # fmt: skip
    message = await outbox.record_inbound(
        connections.get("default"), source=INTERACTION_SOURCE, delivery_id=interaction_id,
        task=DISCORD_COMMAND_TASK, payload=command, queue=HUB_QUEUE,
    )  # fmt: skip
    if message is None:
        log.info("repeated Discord interaction ignored", extra={"delivery_id": interaction_id})
    else:
        app[OUTBOX_WAKER].wake()  # the hub worker relays the row at once: no Redis on the ack path
    runs_a_job = data["options"][0]["name"] == "tool"  # checked by command_text
    return {
        "type": int(Callback.DEFERRED_CHANNEL_MESSAGE),
        **({} if runs_a_job else {"data": {"flags": EPHEMERAL_FLAG}}),
    }


async def on_autocomplete(app: web.Application, interaction: DiscordInteraction) -> dict[str, Any]:
    """Tool names from the tenant's catalog matching what has been typed so far."""
    try:
        focused = focused_option(interaction.command_data())
    except InteractionDataError:
        focused = None
    choices: list[dict[str, str]] = []
    if focused is not None and focused[0] == "name":
        tenant_id = await chat_tenant("discord", interaction.guild_id)
        choices = autocomplete_choices(focused[1], await app[JOBS].tool_catalog(tenant_id))
    return {"type": int(Callback.AUTOCOMPLETE_RESULT), "data": {"choices": choices}}


def member_of(interaction: DiscordInteraction) -> ChatMember:
    """The clicker as Discord signed them: user id, guild (``dm`` outside one) and the member's roles."""
    roles = frozenset(interaction.role_ids())
    return ChatMember("discord", interaction.guild_id or "dm", interaction.user_id(), roles)


async def on_component(app: web.Application, interaction: DiscordInteraction) -> dict[str, Any]:
    """Approve / Deny: only approvers decide, once; the message then shows the decision without buttons."""
    custom_id = interaction.command_data().get("custom_id")
    parsed = parse_approval_custom_id(custom_id) if isinstance(custom_id, str) else None
    if parsed is None:
        return ephemeral("This button is not one of ours; nothing was changed.")
    member = member_of(interaction)
    # A chat grant (DISCORD_APPROVERS, an admin's) names the user or a role they hold, or their linked person approves.
    if not await may_approve(member, app[SETTINGS]):
        return ephemeral(NOT_AN_APPROVER)
    action, job_ref = parsed
    user = member.user_id
    try:
        job_id = UUID(job_ref)
    except ValueError:
        return ephemeral(STALE_BUTTON)
    decision = Decision.APPROVED if action is ApprovalDecision.APPROVE else Decision.DENIED
    tenant_id = await chat_tenant("discord", interaction.guild_id)
    by = f"discord:{member.team_id}:{user}"
    try:
        job, decided, reason = await app[JOBS].decide(tenant_id, job_id, decision, by=by, user_id=user)
    except NotFound:
        return ephemeral(STALE_BUTTON)
    if not decided:
        return ephemeral(reason[0].upper() + reason[1:] + "; nothing was changed.")
    prompt = ApprovalPrompt(str(job.id), job.tool, dict(job.arguments), job.requester)
    return {"type": int(Callback.UPDATE_MESSAGE), "data": decided_message(prompt, action, user)}


async def on_ping(app: web.Application, interaction: DiscordInteraction) -> dict[str, Any]:
    return {"type": int(Callback.PONG)}


HANDLERS: Final[dict[int, Handler]] = {
    InteractionType.PING: on_ping,
    InteractionType.APPLICATION_COMMAND: on_command,
    InteractionType.AUTOCOMPLETE: on_autocomplete,
    InteractionType.MESSAGE_COMPONENT: on_component,
}


@endpoint(
    "Discord: interactions (PING, /swarm, autocomplete, approval buttons), signed with Ed25519",
    tags=("discord",),
    responses={200: Response("the interaction response: PONG, deferred, autocomplete choices or an update"),
               400: Response("not an interaction we handle"),
               401: Response("unsigned, tampered or stale request")},
)  # fmt: skip
async def discord_interactions(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = await read_bounded(request, settings.max_request_bytes)
    verify(settings, request, body, time.time())
    interaction = parse_interaction(body)
    handler = HANDLERS.get(interaction.type)
    if handler is None:
        raise BadRequest("not an interaction type this endpoint handles")
    return web.json_response(await handler(request.app, interaction))


def parse_interaction(body: bytes) -> DiscordInteraction:
    """The signed body as an interaction, or 400 naming the first field of the wrong type."""
    try:
        return DiscordInteraction.model_validate(parse_json(body))
    except ValidationError as exc:
        raise BadRequest(f"not a Discord interaction: {first_problem(exc)}") from None


def add_routes(app: web.Application, settings: Settings) -> None:
    """Mount the door when DISCORD_PUBLIC_KEY is set."""
    if settings.discord_public_key is not None:
        app.router.add_post("/discord/interactions", discord_interactions)
