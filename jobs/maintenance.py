"""Periodic chores of the hub worker: relay the outbox (leftovers of the fast path)."""

from __future__ import annotations

import asyncio
import logging

from . import outbox
from .context import WorkerContext

log = logging.getLogger(__name__)
RELAY_INTERVAL_S = 1.0


async def maintenance_loop(context: WorkerContext) -> None:
    """Run each chore on its interval; an error in one round is logged and the loop goes on."""
    while True:
        try:
            await outbox.relay_once(context.redis)
        except Exception:
            log.exception("maintenance round failed")
        await asyncio.sleep(RELAY_INTERVAL_S)
