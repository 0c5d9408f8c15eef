from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hub.db.lifecycle import close_orm, init_orm
from hub.services import admin
from tests.harness import Swarm

StartSwarm = Callable[..., Awaitable[Swarm]]


@pytest.fixture
async def start_swarm(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[StartSwarm]:
    """Start a hub and hub worker as real processes (extra settings as keyword arguments)."""
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
