"""Getting a process ready to run: concrete store URLs (embedded when unset) and migrations."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .db.lifecycle import apply_migrations, close_orm, init_orm
from .local import LocalAgent, ensure_dev_token, ensure_local_agent
from .settings import Settings
from .stores.embedded import EmbeddedStores, start_embedded

log = logging.getLogger(__name__)


def resolve_stores(settings: Settings) -> tuple[Settings, EmbeddedStores]:
    """Start embedded stores for the URLs that are unset and return settings pointing at them."""
    stores = start_embedded(settings.data_dir, postgres=settings.embedded_database, redis=settings.embedded_redis)
    database_url = settings.database_url or (stores.postgres.url() if stores.postgres else "")
    redis_url = settings.redis_url or (stores.redis.url() if stores.redis else "")
    if stores.postgres or stores.redis:
        log.info(
            "embedded stores ready",
            extra={"postgres": stores.postgres is not None, "redis": stores.redis is not None,
                   "data_dir": str(settings.data_dir)},
        )  # fmt: skip
    return settings.with_stores(database_url, redis_url), stores


def migrate(settings: Settings) -> list[str]:
    assert settings.database_url is not None
    applied = asyncio.run(apply_migrations(settings.database_url))
    log.info("migrations applied" if applied else "migrations up to date", extra={"applied": applied})
    return applied


@dataclass(frozen=True)
class LocalSetup:
    settings: Settings
    stores: EmbeddedStores
    child_env: dict[str, str]
    agent_config: Path | None


def prepare_local(settings: Settings, *, with_agent: bool, base_env: dict[str, str] | None = None) -> LocalSetup:
    """For ``garageswarm up``: stores, migrations, and the environment the children inherit."""
    resolved, stores = resolve_stores(settings)
    try:
        migrate(resolved)
    except BaseException:
        stores.stop()
        raise
    try:
        agent = asyncio.run(_local_identities(resolved, with_agent=with_agent))
    except BaseException:
        stores.stop()
        raise
    env = dict(os.environ if base_env is None else base_env)
    env["DATABASE_URL"] = resolved.database_url or ""
    env["REDIS_URL"] = resolved.redis_url or ""
    env["GARAGESWARM_DATA_DIR"] = str(resolved.data_dir)
    host = "127.0.0.1" if resolved.host in ("0.0.0.0", "::", "") else resolved.host  # noqa: S104
    env["GARAGESWARM_HUB_URL"] = f"http://{host}:{resolved.port}"
    if agent is not None:
        env["GARAGESWARM_API_KEY"] = agent.key
    return LocalSetup(settings=resolved, stores=stores, child_env=env, agent_config=agent.config if agent else None)


async def _local_identities(settings: Settings, *, with_agent: bool) -> LocalAgent | None:
    """The dev token for ``garageswarm chat`` and, unless disabled, the local demo agent."""
    assert settings.database_url is not None
    await init_orm(settings.database_url, maxsize=2)
    try:
        await ensure_dev_token(settings.data_dir)
        return await ensure_local_agent(settings.data_dir) if with_agent else None
    finally:
        await close_orm()
