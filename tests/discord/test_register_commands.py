"""``garageswarm discord register-commands`` puts /swarm into Discord through the REST API."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest

from tests.fakes.discord_api import APPLICATION_ID, BOT_TOKEN, DiscordApiFake

pytestmark = pytest.mark.timeout(60)


async def garageswarm(*args: str, **env: str) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GARAGESWARM_", "DISCORD_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", *args, env={**clean, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


@pytest.mark.parametrize("guild", [None, "1200000000000000020"])
async def test_the_swarm_command_is_registered(aiohttp_server: Any, guild: str | None) -> None:
    fake = DiscordApiFake()
    server = await aiohttp_server(fake.app())
    env = {"DISCORD_APPLICATION_ID": APPLICATION_ID, "DISCORD_BOT_TOKEN": BOT_TOKEN,
           "DISCORD_API_URL": str(server.make_url("/api/v10"))}  # fmt: skip

    code, output = await garageswarm("discord", "register-commands", *(["--guild", guild] if guild else []), **env)

    assert code == 0, output
    (command,) = fake.commands[guild]
    assert command["name"] == "swarm" and f"/swarm ({command['id']})" in output
    assert [o["name"] for o in command["options"]] == ["tool", "tools", "workers", "status", "cancel", "retry", "help"]


async def test_registering_without_credentials_says_what_is_missing() -> None:
    code, output = await garageswarm("discord", "register-commands")

    assert code == 2 and "DISCORD_APPLICATION_ID and DISCORD_BOT_TOKEN" in output
