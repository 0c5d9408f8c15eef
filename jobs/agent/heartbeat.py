"""Heart-beats to the hub over a WebSocket, with plain HTTP as the fallback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

import aiohttp

from .hub_client import HubClient, HubError, HubUnreachable, backoff_delay_s

log = logging.getLogger(__name__)
REPLACED = '"replaced"'


async def _beat_over_websocket(client: HubClient, interval_s: float, active_jobs: Callable[[], int]) -> None:
    async with client.session.ws_connect(
        client.websocket_url(), headers=client.headers, heartbeat=interval_s * 2
    ) as ws:
        log.info("heart-beat connected")
        reader = asyncio.create_task(_drain(ws))
        try:
            while not ws.closed and not reader.done():
                await ws.send_json({"type": "heartbeat", "active_jobs": active_jobs()})
                await asyncio.wait([reader], timeout=interval_s)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader  # raises what ended it (the hub's notice that this process lost the key)


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read until the socket closes (reading processes pings and pongs); the hub saying that another process
    took this agent's key over raises :class:`HubError` (409)."""
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT and REPLACED in message.data:
            with contextlib.suppress(ValueError):
                notice = json.loads(message.data)
                if isinstance(notice, dict) and notice.get("type") == "replaced":
                    raise HubError(409, str(notice.get("detail") or "another process took this agent's key"))


async def heartbeat_loop(client: HubClient, interval_s: float, active_jobs: Callable[[], int]) -> None:
    """Beat forever: WebSocket while it works; HTTP beats and reconnects with backoff while it doesn't. Ends
    with :class:`HubError` (409) when another process has taken this agent's key over: this one must stop."""
    failures = 0
    while True:
        try:
            await _beat_over_websocket(client, interval_s, active_jobs)
            failures = 0
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            failures += 1
            log.info("heart-beat WebSocket down; using HTTP", extra={"error": type(exc).__name__})
        try:
            await client.heartbeat(active_jobs())
        except HubUnreachable:
            pass
        except HubError as exc:
            if exc.status == 409:
                raise
        await asyncio.sleep(min(interval_s, backoff_delay_s(failures)))
