"""Periodic chores of the hub worker: relay the outbox, reap lost agents, dispatch waiting jobs,
re-send queued runs that Redis lost."""

from __future__ import annotations

import asyncio
import logging

from hub.db.models import Tenant

from . import outbox, sweeps, webhook_sweeps
from .context import WorkerContext
from .repeats import RepeatPolicy

log = logging.getLogger(__name__)
TICK_S = 1.0
RELAY_SETTLED_S = 2.0  # rows younger than this are being sent by the request that wrote them
PURGE_EVERY_TICKS = 600  # sent outbox rows and chat deliveries older than a day go about every ten minutes


async def tick(context: WorkerContext) -> None:
    """One round of every chore (each is one cheap query when there is nothing to do)."""
    await outbox.relay_once(context.redis, settled_s=RELAY_SETTLED_S)
    settings = context.settings
    await sweeps.reap_lost_workers(context.redis, settings.heartbeat_timeout_s, RepeatPolicy(settings.safe_to_repeat))
    for tenant in await Tenant.all().only("id"):
        await sweeps.dispatch_pending(context.redis, tenant.id)
    await sweeps.resend_stale_queued(context.redis, context.settings.requeue_after_s)
    await webhook_sweeps.tick(context)


async def maintenance_loop(context: WorkerContext) -> None:
    """Run the chores; an error in one round is logged and the loop goes on."""
    count = 0
    while True:
        try:
            await tick(context)
            if count % PURGE_EVERY_TICKS == 0:
                await outbox.purge_sent()
                await outbox.purge_inbound()
                await webhook_sweeps.purge_old(context.settings.webhook_retention_days)
        except Exception:
            log.exception("maintenance round failed")
        count += 1
        await asyncio.sleep(TICK_S)
