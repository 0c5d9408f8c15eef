"""Live job events over a WebSocket, for the console and, later, the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

from aiohttp import WSMsgType, web

from hub.auth import authenticate_caller
from hub.errors import NotFound
from hub.keys import REDIS
from hub.openapi import Response, endpoint
from hub.routes.schemas import Ack
from hub.services import jobs as job_service
from hub.sso.guard import require_reader
from jobs.effects import job_channel, tenant_channel


@endpoint(
    "Live job events: `?job=ID` for one job (its past events first), no parameter for every job of the tenant. "
    "Each message is an event: {job_id, seq, kind, attempt, data, at}",
    tags=("jobs",), security=("apiToken",), query={"job": "a job id"},
    responses={101: Response("switching to WebSocket", Ack, example={"ok": True, "detail": "upgrade"}),
               401: Response("missing or invalid API token"), 404: Response("no such job")},
)  # fmt: skip
async def live(request: web.Request) -> web.WebSocketResponse:
    caller = await authenticate_caller(request)
    await require_reader(request, caller)
    job_ref = request.query.get("job")
    job = await job_service.find_job(caller.tenant_id, job_ref) if job_ref else None
    if job_ref and job is None:
        raise NotFound("no such job")
    pubsub = request.app[REDIS].pubsub()
    channel = job_channel(job.id) if job else tenant_channel(caller.tenant_id)
    await pubsub.subscribe(channel)  # before reading history, so nothing falls in between
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    try:
        if job is not None:
            events, _ = await job_service.job_details(job)
            for event in events:
                await ws.send_json(
                    {"job_id": str(job.id), "seq": event.seq, "kind": event.kind.value, "attempt": event.attempt,
                     "data": event.data, "at": event.created_at.isoformat()}
                )  # fmt: skip
        forward = asyncio.create_task(_forward(pubsub, ws))
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        forward.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forward
    finally:
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    return ws


async def _forward(pubsub: object, ws: web.WebSocketResponse) -> None:
    async for message in pubsub.listen():  # type: ignore[attr-defined]
        if message.get("type") == "message":
            await ws.send_str(message["data"].decode() if isinstance(message["data"], bytes) else message["data"])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/ws", live)


__all__ = ["UUID", "add_routes"]
