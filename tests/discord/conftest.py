"""A strict fake Discord API on a local port, and a swarm (hub, hub worker, agent) pointed at it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import StartSwarm
from tests.discord.support import PUBLIC_KEY, post
from tests.fakes.discord_api import APPLICATION_ID, BOT_TOKEN, DiscordApiFake
from tests.harness import Swarm, demo_stdio_config


@dataclass
class Discord:
    """The running fake and the swarm that talks to it."""

    fake: DiscordApiFake
    swarm: Swarm

    async def interact(self, interaction: dict[str, Any]) -> tuple[int, Any, float]:
        """Send a signed interaction to the hub; pass its answer on to the fake, as Discord would learn it."""
        status, answer, elapsed = await post(self.swarm.url, interaction)
        if status == 200 and answer.get("type") != 1 and interaction["token"] not in self.fake.answered:
            self.fake.record_answer(interaction["token"], answer)
        return status, answer, elapsed

    async def jobs(self) -> list[dict[str, Any]]:
        _, body = await self.swarm.api("GET", "/api/v1/jobs")
        return list(body["jobs"])


async def wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def start_discord(start_swarm: StartSwarm, aiohttp_server: Any, **env: str) -> AsyncIterator[Discord]:
    fake = DiscordApiFake()
    server = await aiohttp_server(fake.app())
    swarm = await start_swarm(
        DISCORD_PUBLIC_KEY=PUBLIC_KEY, DISCORD_APPLICATION_ID=APPLICATION_ID, DISCORD_BOT_TOKEN=BOT_TOKEN,
        DISCORD_API_URL=str(server.make_url("/api/v10")), **env,
    )  # fmt: skip
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    yield Discord(fake, swarm)
    assert fake.answers_off_spec() == []


@pytest.fixture
async def discord(start_swarm: StartSwarm, aiohttp_server: Any) -> AsyncIterator[Discord]:
    async for running in start_discord(start_swarm, aiohttp_server):
        yield running
