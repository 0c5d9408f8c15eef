"""Heart-beats to the hub over a WebSocket, with plain HTTP as the fallback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp

from .hub_client import HubClient, HubError, HubUnreachable, backoff_delay_s

log = logging.getLogger(__name__)


async def _beat_over_websocket(client: HubClient, interval_s: float, active_jobs: Callable[[], int]) -> None:
    async with client.session.ws_connect(
        client.websocket_url(), headers=client.headers, heartbeat=interval_s * 2
    ) as ws:
        log.info("heart-beat connected")
        reader = asyncio.create_task(_drain(ws))
        try:
            while not ws.closed and not reader.done():
                await ws.send_json({"type": "heartbeat", "active_jobs": active_jobs()})
                await asyncio.sleep(interval_s)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:  # reading processes pings/pongs and notices a close
        pass


async def heartbeat_loop(client: HubClient, interval_s: float, active_jobs: Callable[[], int]) -> None:
    """Beat forever: WebSocket while it works; HTTP beats and reconnects with backoff while it doesn't."""
    failures = 0
    while True:
        try:
            await _beat_over_websocket(client, interval_s, active_jobs)
            failures = 0
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            failures += 1
            log.info("heart-beat WebSocket down; using HTTP", extra={"error": type(exc).__name__})
        with contextlib.suppress(HubUnreachable, HubError):
            await client.heartbeat(active_jobs())
        await asyncio.sleep(min(interval_s, backoff_delay_s(failures)))
