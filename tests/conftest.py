"""Shared fixtures: real Postgres and Redis (embedded unless DATABASE_URL / REDIS_URL are set),
a freshly migrated database per test, and settings pointing at them."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from redis.asyncio import Redis

from hub.db.config import postgres_credentials, with_database
from hub.db.lifecycle import apply_migrations
from hub.settings import Settings
from hub.stores.embedded import EmbeddedStores, start_embedded

if TYPE_CHECKING:
    from tests.harness import Swarm

TEMPLATE_DB = "gs_test_template"


@dataclass(frozen=True)
class Stores:
    admin_url: str  # a database we can connect to for CREATE/DROP DATABASE
    redis_url: str

    def database_url(self, name: str) -> str:
        return with_database(self.admin_url, name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _admin(stores: Stores) -> asyncpg.Connection:
    creds = postgres_credentials(stores.admin_url)
    return await asyncpg.connect(
        host=creds["host"], port=creds["port"], user=creds["user"], password=creds["password"] or None,
        database=creds["database"],
    )  # fmt: skip


async def create_database(stores: Stores, name: str, template: str | None = None) -> str:
    conn = await _admin(stores)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()
    return stores.database_url(name)


async def drop_database(stores: Stores, name: str) -> None:
    conn = await _admin(stores)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """Real stores for the whole session: the ones in the environment, else embedded ones."""
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    embedded: EmbeddedStores | None = None
    if not database_url or not redis_url:
        data_dir = tmp_path_factory.mktemp("stores")
        data_dir.chmod(0o755)
        embedded = start_embedded(data_dir, postgres=not database_url, redis=not redis_url)
        database_url = database_url or (embedded.postgres.url() if embedded.postgres else None)
        redis_url = redis_url or (embedded.redis.url() if embedded.redis else None)
    assert database_url and redis_url
    try:
        yield Stores(admin_url=database_url, redis_url=redis_url)
    finally:
        if embedded is not None:
            embedded.stop()


@pytest.fixture(scope="session")
def migrated_template(stores: Stores) -> str:
    """A database with every migration applied, used as the template for each test database."""

    async def build() -> None:
        await apply_migrations(await create_database(stores, TEMPLATE_DB))

    asyncio.run(build())
    return TEMPLATE_DB


@pytest.fixture
async def database_url(stores: Stores, migrated_template: str) -> AsyncIterator[str]:
    name = f"gs_test_{uuid.uuid4().hex[:12]}"
    url = await create_database(stores, name, template=migrated_template)
    yield url
    await drop_database(stores, name)


@pytest.fixture
async def redis_url(stores: Stores) -> AsyncIterator[str]:
    client = Redis.from_url(stores.redis_url)
    await client.flushdb()
    await client.aclose()
    yield stores.redis_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path / "data"), "PORT": str(free_port())}
    return Settings.from_env(env).with_stores(database_url, redis_url)


@pytest.fixture
async def orm(database_url: str) -> AsyncIterator[None]:
    """The ORM open on the test's database, for the test's own queries and admin calls."""
    from hub.db.lifecycle import close_orm, init_orm

    await init_orm(database_url, maxsize=2)
    yield
    await close_orm()


@pytest.fixture
async def hub_client(aiohttp_client: Any, settings: Settings, orm: None) -> Any:
    """The hub application in this process (an aiohttp TestClient), stopped before the ORM closes."""
    from hub.app import create_app

    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def agent_keys(orm: None) -> dict[str, str]:
    """The key of an agent named garage-1 (``worker``) and of an API token with the jobs role (``token``)."""
    from hub.services import admin

    worker = await admin.add_worker("garage-1", {})
    token = await admin.add_token("tests", ["jobs"])
    return {"worker": worker.key, "token": token.key}


StartSwarm = Callable[..., Awaitable["Swarm"]]


@pytest.fixture
async def start_swarm(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[StartSwarm]:
    """Start a hub and hub worker as real processes (extra settings as keyword arguments)."""
    from hub.db.lifecycle import close_orm, init_orm
    from hub.services import admin
    from tests.harness import Swarm

    await init_orm(database_url, maxsize=2)
    started: list[Swarm] = []

    async def start(**env: str) -> Swarm:
        swarm = Swarm(database_url=database_url, redis_url=redis_url, workdir=tmp_path, extra_env=env)
        swarm.token = (await admin.add_token("tests", ["jobs"])).key
        started.append(swarm)
        await swarm.start_hub()
        swarm.start_worker()
        return swarm

    try:
        yield start
    finally:
        for swarm in started:
            swarm.stop()
        await close_orm()


@pytest.fixture
async def swarm(start_swarm: StartSwarm) -> Swarm:
    return await start_swarm()
