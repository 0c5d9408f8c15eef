"""Live job events over a WebSocket, for the console and, later, the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from hub.auth import authenticate_caller
from hub.errors import NotFound
from hub.keys import LIVE
from hub.live import Viewer
from hub.openapi import Response, endpoint
from hub.routes.schemas import Ack
from hub.services import jobs as job_service
from hub.sso.guard import require_reader
from jobs.effects import event_json

SEND_BATCH_MAX = 256  # events written under one cork


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
    events = request.app[LIVE]
    # Follow before reading the history, so nothing falls in between (an event may come twice: by seq).
    viewer = events.follow(str(caller.tenant_id), str(job.id) if job else None)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    try:
        await ws.prepare(request)
        if job is not None:
            history, _ = await job_service.job_details(job)
            for event in history:
                await ws.send_json(event_json(event))
        sock = request.transport.get_extra_info("socket") if request.transport is not None else None
        forward = asyncio.create_task(_forward(viewer, ws, sock))
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        forward.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forward
    finally:
        events.unfollow(viewer)
    return ws


async def _forward(viewer: Viewer, ws: web.WebSocketResponse, sock: Any) -> None:
    """Send the viewer's events as they come; close the socket if it fell too far behind (the client
    reconnects and catches up from the job's history). The events waiting together go out corked, in as
    few packets as fit: one wake-up of the client instead of one per event (a busy tenant has several
    events per job)."""
    end = False
    while not end and (data := await viewer.queue.get()) is not None:
        batch = [data]
        while len(batch) < SEND_BATCH_MAX and not viewer.queue.empty():
            if (more := viewer.queue.get_nowait()) is None:
                end = True
                break
            batch.append(more)
        with _corked(sock if len(batch) > 1 else None):
            for data in batch:
                await ws.send_str(data)
    await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"fell behind: reconnect")


@contextlib.contextmanager
def _corked(sock: Any) -> Iterator[None]:
    """Hold back partial packets while writing (Linux TCP_CORK; elsewhere, or on a socket that is not
    TCP, writes go out as they are made)."""
    cork = getattr(socket, "TCP_CORK", None)
    corked = False
    if sock is not None and cork is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
            corked = True
    try:
        yield
    finally:
        if corked:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, cork, 0)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/ws", live)
