"""The Slack door: slack-bolt (async) mounted in our aiohttp app at ``/slack/events``.

Bolt verifies the signing secret (5-minute window; 401 otherwise). The ack path only records the
command with an outbox row in one statement (shared by the requests arriving together) and answers;
the hub worker relays the row when woken and carries it out
(``jobs.tasks.slack``) and the job's thread is kept up to date by ``jobs.tasks.notify``."""

from __future__ import annotations

import html
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from tortoise import connections

from bot.slack.blocks import APPROVE_ACTION_ID, DENY_ACTION_ID
from hub.db.group_commit import GroupCommit
from hub.errors import BadRequest, NotFound
from hub.keys import OUTBOX_WAKER, REDIS, SETTINGS
from hub.openapi import Response, endpoint
from hub.routes.schemas import Ack
from hub.services.slack_installs import SlackWorkspaces
from hub.settings import Settings
from jobs import outbox
from jobs.queue import HUB_QUEUE

log = logging.getLogger(__name__)
SLACK_COMMAND_TASK = "slack_command"
SLACK_APPROVAL_TASK = "slack_approval_click"
SLACK_MENTION_TASK = "slack_mention"
BOLT = web.AppKey("slack_bolt", AsyncApp)
WORKSPACES = web.AppKey("slack_workspaces", SlackWorkspaces)
RECORDER = web.AppKey("slack_recorder", GroupCommit[outbox.Inbound, bool])
SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
COMMAND_FIELDS = ("team_id", "channel_id", "user_id", "text", "trigger_id", "command", "response_url")
MAX_TEXT = 4000


def build_bolt(settings: Settings, app: web.Application) -> AsyncApp:
    """A bolt app that verifies with SLACK_SIGNING_SECRET and finds each workspace's token itself."""
    assert settings.slack_signing_secret is not None

    async def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # The configured or installed token; no auth.test call on the ack path.
        token = await app[WORKSPACES].token_for(team_id)
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

    async def on_decision(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await record_click(app, body, action)
        await ack()

    async def on_mention(ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await record_mention(app, body, event)
        await ack()

    bolt.command("/swarm")(on_swarm)
    bolt.event("app_mention")(on_mention)
    bolt.action(APPROVE_ACTION_ID)(on_decision)
    bolt.action(DENY_ACTION_ID)(on_decision)
    return bolt


async def _record_many(items: list[outbox.Inbound]) -> list[bool]:
    """Per item, whether it was new (a repeat stores nothing)."""
    rows = await outbox.record_inbound_many(connections.get("default"), items, as_messages=False)
    return [row is not None for row in rows]


async def _record(app: web.Application, source: str, delivery_id: str, task: str, payload: dict[str, Any]) -> bool:
    """The ack path: store what arrived with an outbox row, in one statement shared with the requests
    arriving at the same time (group commit); False for a repeat."""
    if not await app[RECORDER].submit(outbox.Inbound(source, delivery_id, task, payload, HUB_QUEUE)):
        log.info("repeated Slack delivery ignored", extra={"source": source, "delivery_id": delivery_id})
        return False
    app[OUTBOX_WAKER].wake()  # the hub worker relays the outbox row: no Redis on the ack path
    return True


async def record_command(app: web.Application, body: dict[str, Any]) -> bool:
    """Store a /swarm command; False when this invocation (its trigger id) was already recorded."""
    command = {name: str(body.get(name, ""))[:MAX_TEXT] for name in COMMAND_FIELDS}
    delivery_id = command["trigger_id"] or command["response_url"]
    return await _record(app, "slack:command", delivery_id, SLACK_COMMAND_TASK, command)


async def record_mention(app: web.Application, body: dict[str, Any], event: dict[str, Any]) -> bool:
    """Store an @mention once per event id (Slack retries it with X-Slack-Retry-Num until acknowledged)."""
    mention = {
        "event_id": str(body.get("event_id", ""))[:100], "team_id": str(body.get("team_id", "")),
        "channel_id": str(event.get("channel", "")), "user_id": str(event.get("user", "")),
        "text": str(event.get("text", ""))[:MAX_TEXT], "ts": str(event.get("ts", "")),
        "thread_ts": str(event.get("thread_ts") or ""),
    }  # fmt: skip
    return await _record(app, "slack:event", mention["event_id"], SLACK_MENTION_TASK, mention)


async def record_click(app: web.Application, body: dict[str, Any], action: dict[str, Any]) -> bool:
    """Store an Approve / Deny click; the decider is the user Slack signed for, never message text."""
    user, team = body.get("user", {}).get("id", ""), body.get("team", {}).get("id", "")
    click = {
        "action": "approve" if action.get("action_id") == APPROVE_ACTION_ID else "deny",
        "job_id": str(action.get("value", ""))[:64], "user_id": str(user), "team_id": str(team),
        "channel_id": str(body.get("channel", {}).get("id", "")),
    }  # fmt: skip
    delivery_id = f"{action.get('action_ts', '')}:{user}"
    return await _record(app, "slack:action", delivery_id, SLACK_APPROVAL_TASK, click)


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


INSTALLED_PAGE = "<!doctype html><title>GarageSwarm</title><h1>GarageSwarm is installed in {team}</h1>"
OAUTH_STATE_TTL_S = 600


def _state_key(state: str) -> str:
    return f"gs:slack:oauth-state:{state}"


@endpoint(
    "Slack: start installing the app in a workspace (OAuth v2)",
    tags=("slack",),
    responses={302: Response("redirect to Slack's consent page", Ack, example={"ok": True, "detail": "redirect"}),
               404: Response("OAuth install is not configured (SLACK_CLIENT_ID)")},
)  # fmt: skip
async def slack_install(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.slack_client_id is None:
        raise NotFound("OAuth install is not configured: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    state = secrets.token_urlsafe(24)
    await request.app[REDIS].set(_state_key(state), b"1", ex=OAUTH_STATE_TTL_S)
    query = urlencode({"client_id": settings.slack_client_id, "scope": settings.slack_scopes, "state": state})
    raise web.HTTPFound(f"{SLACK_AUTHORIZE_URL}?{query}")


@endpoint(
    "Slack: OAuth v2 redirect; stores the workspace's installation (its token encrypted) as a tenant",
    tags=("slack",), query={"code": "from Slack", "state": "from /slack/install"},
    responses={200: Response("installed", media_type="text/html"),
               400: Response("cancelled, unknown or expired state, or Slack refused the code"),
               404: Response("OAuth install is not configured")},
)  # fmt: skip
async def slack_oauth_redirect(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.slack_client_id is None or settings.slack_client_secret is None:
        raise NotFound("OAuth install is not configured: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    if "error" in request.query:
        raise BadRequest(f"installation cancelled: {request.query['error'][:100]}")
    state, code = request.query.get("state", ""), request.query.get("code", "")
    if not state or not code or not await request.app[REDIS].getdel(_state_key(state)):
        raise BadRequest("unknown or expired state: start again from /slack/install")
    client = AsyncWebClient(base_url=settings.slack_api_url)
    try:
        answer = await client.oauth_v2_access(
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret.get(), code=code
        )
    except SlackApiError as exc:
        raise BadRequest(f"Slack refused the installation: {exc.response.get('error', 'error')}") from None
    installation = await request.app[WORKSPACES].save(dict(answer.data))
    log.info("slack workspace installed", extra={"team_id": installation.team_id})
    return web.Response(text=INSTALLED_PAGE.format(team=html.escape(installation.team_name)), content_type="text/html")


async def _close_recorder(app: web.Application) -> None:
    await app[RECORDER].close()


def add_routes(app: web.Application, settings: Settings) -> None:
    app[WORKSPACES] = SlackWorkspaces(settings)
    if settings.slack_signing_secret is None:
        return
    app[BOLT] = build_bolt(settings, app)
    app[RECORDER] = GroupCommit(_record_many, max_batch=128)
    app.on_cleanup.append(_close_recorder)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/slack/install", slack_install)
    app.router.add_get("/slack/oauth_redirect", slack_oauth_redirect)
