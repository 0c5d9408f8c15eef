"""The hub worker (``garageswarm worker``): relays the outbox, drains accepted webhook deliveries
into jobs and runs the hub-side tasks (routing retries, reaping lost agents, posting to chat)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from arq.connections import RedisSettings

from bot.discord.adapter import DiscordAdapter
from bot.ports import ChatAdapter
from bot.slack.adapter import SlackAdapter
from hub.db.lifecycle import close_orm, init_orm
from hub.services.jobs import JobServices, approval_policy
from hub.services.slack_installs import SlackWorkspaces
from hub.settings import Settings
from hub.storage import LocalStorage

from . import outbox, wake
from .context import WorkerContext
from .effects import EffectApplier
from .maintenance import maintenance_loop
from .queue import HUB_QUEUE, WakeableWorker
from .tasks import HUB_TASKS
from .tasks.webhooks import drain_deliveries

log = logging.getLogger(__name__)


def chat_adapters(settings: Settings, workspaces: SlackWorkspaces) -> dict[str, ChatAdapter]:
    """The chat platforms this hub posts to, from its settings."""
    adapters: dict[str, ChatAdapter] = {}
    if settings.slack_bot_token is not None or settings.slack_client_id is not None:
        adapters["slack"] = SlackAdapter(workspaces, settings.slack_api_url)
    if settings.discord_application_id is not None or settings.discord_bot_token is not None:
        bot_token = settings.discord_bot_token.get() if settings.discord_bot_token else None
        adapters["discord"] = DiscordAdapter(settings.discord_api_url, settings.discord_application_id, bot_token)
    return adapters


async def relay_when_woken(context: WorkerContext) -> None:
    """Relay outbox rows the moment an ack path (Slack) says it wrote some, not at the next tick."""
    assert context.settings.redis_url is not None

    async def relay() -> bool:
        return await outbox.relay_once(context.redis, horizon_s=0) >= outbox.RELAY_BATCH

    await wake.work_when_woken(context.settings.redis_url, wake.OUTBOX, relay)


def build_hub_worker(settings: Settings) -> WakeableWorker:
    assert settings.database_url is not None and settings.redis_url is not None
    database_url = settings.database_url

    async def startup(ctx: dict[str, Any]) -> None:
        await init_orm(database_url)
        redis = ctx["redis"]
        workspaces = SlackWorkspaces(settings)
        context = WorkerContext(
            settings=settings, redis=redis, services=JobServices(EffectApplier(redis), approval_policy(settings)),
            storage=LocalStorage(settings.data_dir / "artifacts"), workspaces=workspaces,
            adapters=chat_adapters(settings, workspaces),
        )  # fmt: skip
        ctx["gs"] = context
        ctx["background"] = [
            asyncio.create_task(maintenance_loop(context)),
            asyncio.create_task(drain_deliveries(context)),
            asyncio.create_task(relay_when_woken(context)),
        ]

    async def shutdown(ctx: dict[str, Any]) -> None:
        for task in ctx.get("background", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await close_orm()

    return WakeableWorker(
        functions=HUB_TASKS,
        queue_name=HUB_QUEUE,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=False,
        max_jobs=64,
        keep_result=3600,
        job_timeout=300,
    )


async def _run(settings: Settings) -> None:
    worker = build_hub_worker(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    main = asyncio.create_task(worker.main())
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({main, waiter}, return_when=asyncio.FIRST_COMPLETED)
    main.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await main
    await worker.close()
    waiter.cancel()
    if main in done and main.exception() is not None:
        raise main.exception()  # type: ignore[misc]


def run_hub_worker(settings: Settings) -> int:
    asyncio.run(_run(settings))
    return 0


__all__ = ["build_hub_worker", "outbox", "run_hub_worker"]
