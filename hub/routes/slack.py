"""The Slack door: slack-bolt (async) mounted in our aiohttp app at ``/slack/events``.

Bolt verifies the signing secret (5-minute window; 401 otherwise). The ack path only records the
command with an outbox row in one transaction and answers; the hub worker carries it out
(``jobs.tasks.slack``) and the job's thread is kept up to date by ``jobs.tasks.notify``."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from hub.db.models import InboundDelivery
from hub.keys import JOBS
from hub.openapi import Response, endpoint
from hub.routes.schemas import Ack
from hub.settings import Settings
from jobs import outbox
from jobs.queue import HUB_QUEUE

log = logging.getLogger(__name__)
SLACK_COMMAND_TASK = "slack_command"
BOLT = web.AppKey("slack_bolt", AsyncApp)
COMMAND_FIELDS = ("team_id", "channel_id", "user_id", "text", "trigger_id", "command", "response_url")
MAX_TEXT = 4000


def build_bolt(settings: Settings, app: web.Application) -> AsyncApp:
    """A bolt app for one workspace (SLACK_BOT_TOKEN) that verifies with SLACK_SIGNING_SECRET."""
    assert settings.slack_signing_secret is not None
    token = settings.slack_bot_token.get() if settings.slack_bot_token else None

    async def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # Single-workspace mode: the token is configured; no auth.test call on the ack path.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    bolt = AsyncApp(
        client=AsyncWebClient(base_url=settings.slack_api_url),
        signing_secret=settings.slack_signing_secret.get(),
        authorize=authorize,
        process_before_response=True,
    )

    async def on_swarm(ack: Any, body: dict[str, Any]) -> None:
        duplicate = not await record_command(app, body)
        await ack() if duplicate else await ack(text="⏳ On it…")

    bolt.command("/swarm")(on_swarm)
    return bolt


async def record_command(app: web.Application, body: dict[str, Any]) -> bool:
    """Store the command and its outbox row; False when this invocation was already recorded."""
    command = {name: str(body.get(name, ""))[:MAX_TEXT] for name in COMMAND_FIELDS}
    try:
        async with in_transaction() as connection:
            delivery = await InboundDelivery.create(
                source="slack:command", delivery_id=command["trigger_id"] or command["response_url"],
                headers={}, body=None, using_db=connection,
            )  # fmt: skip
            message = await outbox.add(
                connection, task=SLACK_COMMAND_TASK, payload={"delivery_id": delivery.id, **command},
                queue=HUB_QUEUE, job_id=f"slack:command:{delivery.id}",
            )  # fmt: skip
    except IntegrityError:
        log.info("repeated Slack command ignored", extra={"trigger_id": command["trigger_id"]})
        return False
    app[JOBS].effects.send_later([message])
    return True


@endpoint(
    "Slack: slash commands, interactivity and the Events API (signed with the signing secret)",
    tags=("slack",),
    responses={200: Response("acknowledged", Ack, example={"ok": True, "detail": None}),
               401: Response("unsigned, tampered or stale request")},
)  # fmt: skip
async def slack_events(request: web.Request) -> web.Response:
    bolt_response = await request.app[BOLT].async_dispatch(await to_bolt_request(request))
    response: web.Response = await to_aiohttp_response(bolt_response)
    return response


def add_routes(app: web.Application, settings: Settings) -> None:
    if settings.slack_signing_secret is None:
        return
    app[BOLT] = build_bolt(settings, app)
    app.router.add_post("/slack/events", slack_events)
