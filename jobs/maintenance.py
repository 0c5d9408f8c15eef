"""Periodic chores of the hub worker: relay the outbox, reap lost agents, dispatch waiting jobs,
re-send queued runs that Redis lost."""

from __future__ import annotations

import asyncio
import logging

from hub.db.models import Tenant

from . import outbox, sweeps
from .context import WorkerContext

log = logging.getLogger(__name__)
TICK_S = 1.0
STALE_QUEUED_S = 15.0
SLOW_EVERY_TICKS = 5


async def tick(context: WorkerContext, count: int) -> None:
    """One round: the outbox every tick, the slower sweeps every few."""
    await outbox.relay_once(context.redis)
    if count % SLOW_EVERY_TICKS:
        return
    await sweeps.reap_lost_workers(context.redis, context.settings.heartbeat_timeout_s)
    for tenant in await Tenant.all().only("id"):
        await sweeps.dispatch_pending(context.redis, tenant.id)
    await sweeps.resend_stale_queued(context.redis, STALE_QUEUED_S)


async def maintenance_loop(context: WorkerContext) -> None:
    """Run the chores; an error in one round is logged and the loop goes on."""
    count = 0
    while True:
        try:
            await tick(context, count)
        except Exception:
            log.exception("maintenance round failed")
        count += 1
        await asyncio.sleep(TICK_S)
