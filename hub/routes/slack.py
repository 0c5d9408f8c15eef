"""The Slack door: slack-bolt (async) mounted in our aiohttp app at ``/slack/events``.

Before bolt sees anything the door reads the body (within the request size limit), verifies the signing
secret on the raw bytes (:func:`hub.security.slack.verify_slack_request`: 401 with the reason) and checks
the body against the typed shapes of :mod:`hub.routes.slack_schemas` (400 with the reason). Bolt is then
handed that checked request as JSON, so it routes exactly what was checked (its own verification is off:
it would only repeat ours). The ack path only records the command with an outbox row in one statement
(shared by the requests arriving together) and answers; the hub worker relays the row when woken and
carries it out (``jobs.tasks.slack``) and the job's thread is kept up to date by ``jobs.tasks.notify``."""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from tortoise import connections

from bot.slack.blocks import APPROVE_ACTION_ID, DENY_ACTION_ID
from hub.db.group_commit import GroupCommit
from hub.doors import read_bounded, repeated_header
from hub.errors import BadRequest, NotFound, Unauthorized
from hub.keys import OUTBOX_WAKER, REDIS, SETTINGS
from hub.openapi import Response, endpoint
from hub.routes.schemas import Ack
from hub.routes.slack_schemas import (
    AppMention,
    BlockActions,
    ButtonAction,
    EventCallback,
    SlashCommand,
    parse_slack_body,
)
from hub.security.slack import SIGNATURE_HEADER, TIMESTAMP_HEADER, SlackSignatureError, verify_slack_request
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
SIGNED_REQUEST = "gs_signed_request"  # bolt context key: the signed request's own id (timestamp + body hash)
MAX_TEXT = 4000


def build_bolt(settings: Settings, app: web.Application) -> AsyncApp:
    """A bolt app that routes the requests the door has verified and checked, and finds each workspace's token
    itself; its signing secret is only a required setting (its verification is off: the door's is the lock)."""
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
        request_verification_enabled=False,  # the door has verified the raw request (slack_events)
    )

    async def on_swarm(ack: Any, body: dict[str, Any], context: dict[str, Any]) -> None:
        duplicate = not await record_command(app, SlashCommand.model_validate(body), str(context[SIGNED_REQUEST]))
        await ack() if duplicate else await ack(text="⏳ On it…")

    async def on_decision(ack: Any, body: dict[str, Any]) -> None:
        clicked = BlockActions.model_validate(body)
        await record_click(app, clicked, clicked.actions[0])
        await ack()

    async def on_mention(ack: Any, body: dict[str, Any]) -> None:
        await record_mention(app, EventCallback.model_validate(body))
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


def signed_request_id(timestamp: str, body: bytes) -> str:
    """An id for a request Slack gave none: its signed timestamp and a hash of its body (a replay of the
    same signed request has the same id; two commands differ in one or the other)."""
    return f"signed:{timestamp}:{hashlib.sha256(body).hexdigest()}"


async def record_command(app: web.Application, command: SlashCommand, signed_id: str) -> bool:
    """Store a /swarm command; False when this invocation was already recorded. The invocation is its
    trigger id, else its response URL, else (Slack gave neither) the signed request's own id."""
    invocation = command.trigger_id or command.response_url or signed_id
    payload = {**command.model_dump(), "text": command.text[:MAX_TEXT], "invocation": invocation}
    return await _record(app, "slack:command", invocation, SLACK_COMMAND_TASK, payload)


async def record_mention(app: web.Application, delivery: EventCallback) -> bool:
    """Store an @mention once per event id (Slack retries it with X-Slack-Retry-Num until acknowledged)."""
    event: AppMention = delivery.event
    mention = {
        "event_id": delivery.event_id, "team_id": delivery.team_id, "channel_id": event.channel,
        "user_id": event.user, "text": event.text[:MAX_TEXT], "ts": event.ts, "thread_ts": event.thread_ts or "",
    }  # fmt: skip
    return await _record(app, "slack:event", delivery.event_id, SLACK_MENTION_TASK, mention)


async def record_click(app: web.Application, clicked: BlockActions, action: ButtonAction) -> bool:
    """Store an Approve / Deny click; the decider is the user Slack signed for, never message text."""
    click = {
        "action": "approve" if action.action_id == APPROVE_ACTION_ID else "deny", "job_id": action.value[:64],
        "user_id": clicked.user.id, "team_id": clicked.team.id if clicked.team else "",
        "channel_id": clicked.channel.id if clicked.channel else "",
    }  # fmt: skip
    delivery_id = f"{action.action_ts}:{clicked.user.id}"
    return await _record(app, "slack:action", delivery_id, SLACK_APPROVAL_TASK, click)


def verify(request: web.Request, body: bytes, now: float) -> str:
    """The request's signed timestamp; 401 with the reason unless Slack signed this body recently."""
    secret = request.app[SETTINGS].slack_signing_secret
    assert secret is not None
    if (repeated := repeated_header(request.headers, (TIMESTAMP_HEADER, SIGNATURE_HEADER))) is not None:
        raise Unauthorized(f"invalid request signature: {repeated} given more than once")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    try:
        verify_slack_request(secret.get(), timestamp, request.headers.get(SIGNATURE_HEADER), body, now)
    except SlackSignatureError as exc:
        raise Unauthorized(f"invalid request signature: {exc.reason}") from None
    return timestamp


@endpoint(
    "Slack: slash commands, interactivity and the Events API (signed with the signing secret)",
    tags=("slack",),
    responses={200: Response("acknowledged", Ack, example={"ok": True, "detail": None}),
               400: Response("signed, but not a request this endpoint handles (the message says why)"),
               401: Response("unsigned, tampered or stale request"), 413: Response("body too large"),
               415: Response("neither form-encoded nor JSON")},
)  # fmt: skip
async def slack_events(request: web.Request) -> web.Response:
    body = await read_bounded(request, request.app[SETTINGS].max_request_bytes)
    timestamp = verify(request, body, time.time())
    checked = parse_slack_body(body.decode(), request.content_type)  # the verifier refused bodies not UTF-8
    bolt_request = AsyncBoltRequest(
        body=checked.model_dump_json(), query=request.query_string, headers={"content-type": "application/json"},
        context={SIGNED_REQUEST: signed_request_id(timestamp, body)},
    )  # fmt: skip
    response: web.Response = await to_aiohttp_response(await request.app[BOLT].async_dispatch(bolt_request))
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
