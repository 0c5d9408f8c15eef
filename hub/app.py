"""The hub application factory: everything the app needs is created here and put on typed keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from jobs import wake
from jobs.effects import EffectApplier
from jobs.redis_packing import pack_with_hiredis
from jobs.wake import Waker

from .auth import AUTH_CACHE, KeyCache
from .db.lifecycle import close_orm, init_orm
from .keys import JOBS, LIVE, METRICS, OUTBOX_WAKER, REDIS, SETTINGS, STORAGE
from .live import LiveEvents
from .metrics import Metrics
from .middleware import request_context
from .routes import agent_api, console, discord, health, hooks, hooks_api, jobs_api, live, people_api, slack
from .routes import auth as auth_routes
from .services.jobs import JobServices, approval_policy
from .settings import Settings
from .sso.chat_grants import sync_at_start
from .storage import LocalStorage


def redis_client(redis_url: str) -> ArqRedis:
    """An arq-capable Redis client that connects lazily, so the hub starts while Redis is down."""
    pool = ConnectionPool.from_url(redis_url, socket_connect_timeout=2, health_check_interval=30)
    return ArqRedis(connection_pool=pack_with_hiredis(pool))


def create_app(settings: Settings) -> web.Application:
    """Build the hub. ``settings`` must carry concrete store URLs (embedded ones already started)."""
    if settings.database_url is None or settings.redis_url is None:
        raise ValueError("create_app needs settings with database_url and redis_url")
    app = web.Application(middlewares=[request_context], client_max_size=settings.max_request_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics.create()
    app[STORAGE] = LocalStorage(settings.data_dir / "artifacts")
    app[AUTH_CACHE] = KeyCache()
    app.cleanup_ctx.append(_orm)
    app.cleanup_ctx.append(_chat_grants)
    app.cleanup_ctx.append(_redis)
    for routes in (health, jobs_api, agent_api, live, console):
        routes.add_routes(app)
    slack.add_routes(app, settings)
    discord.add_routes(app, settings)
    hooks.add_routes(app)
    hooks_api.add_routes(app)
    auth_routes.add_routes(app, settings)
    people_api.add_routes(app)
    return app


async def _orm(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url is not None
    await init_orm(settings.database_url)
    yield
    await close_orm()


async def _chat_grants(app: web.Application) -> AsyncIterator[None]:
    """SLACK_APPROVERS and DISCORD_APPROVERS become chat grants (retried in the background until the
    database is ready, so a hub still starts before its migrations)."""
    retrying = await sync_at_start(app[SETTINGS])
    yield
    if retrying is not None:
        retrying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retrying


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.redis_url is not None
    app[REDIS] = redis_client(settings.redis_url)
    app[LIVE] = LiveEvents(app[REDIS])
    app[JOBS] = JobServices(EffectApplier(app[REDIS], local=app[LIVE]), approval_policy(settings))
    app[OUTBOX_WAKER] = Waker(app[REDIS], wake.OUTBOX)
    await app[LIVE].start()
    yield
    await app[LIVE].close()
    await app[JOBS].close()
    await app[OUTBOX_WAKER].close()
    await app[REDIS].aclose()
