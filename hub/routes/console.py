"""The console door: ``garageswarm chat`` sends commands here as a chat platform would."""

from __future__ import annotations

from aiohttp import web

from hub.auth import authenticate_caller
from hub.db.models import Origin
from hub.keys import JOBS, SETTINGS
from hub.openapi import Response, endpoint, read_json
from hub.routes.schemas import ConsoleCommand, ConsoleReply
from hub.routes.views import job_view
from hub.services.commands import Requester, handle_text
from hub.sso.guard import permissions


@endpoint(
    "Run a /swarm command from the console; the job's thread is followed on /api/v1/ws",
    tags=("console",), security=("apiToken",), request=ConsoleCommand,
    responses={200: Response("the answer (ok=false for a refused command)", ConsoleReply),
               401: Response("missing or invalid API token")},
)  # fmt: skip
async def console_command(request: web.Request) -> web.Response:
    caller = await authenticate_caller(request)
    body = await read_json(request, ConsoleCommand)
    requester = Requester(
        tenant_id=caller.tenant_id, origin=Origin.CONSOLE, identity=f"console:{caller.name}",
        thread_ref={"platform": "console", "channel": caller.name, "thread": None, "team": None},
        max_retries=request.app[SETTINGS].max_retries,
        sign_in_url=request.app[SETTINGS].hub_url if request.app[SETTINGS].oidc_issuer else None,
        permissions=await permissions(request, caller),  # the console acts with its token's roles
    )  # fmt: skip
    outcome = await handle_text(request.app[JOBS], requester, body.text)
    job = job_view(outcome.job, await request.app[JOBS].worker_name(outcome.job)) if outcome.job else None
    reply = ConsoleReply(reply=outcome.reply, ok=outcome.ok, job=job, follow=outcome.follow)
    return web.json_response(text=reply.model_dump_json())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/console/commands", console_command)
