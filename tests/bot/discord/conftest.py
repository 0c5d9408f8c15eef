"""The Discord API fake served on a local port, with discord.py's HTTP layer pointed at it."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from tests.fakes.discord_api import BOT_TOKEN, DiscordApiFake

with warnings.catch_warnings():
    # discord.py imports the stdlib's audioop (for voice) at import time, deprecated since Python 3.11.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord


@dataclass
class DiscordApi:
    """The running fake: ``base_url`` is what ``DISCORD_API_URL`` would be, ``session`` a client for raw calls."""

    fake: DiscordApiFake
    base_url: str
    session: aiohttp.ClientSession

    async def request(self, method: str, path: str, *, bot: bool = True, **kwargs: Any) -> tuple[int, Any]:
        """Call ``base_url + path`` (with the bot token when ``bot``) and return the status and decoded JSON."""
        headers = {"Authorization": f"Bot {BOT_TOKEN}"} if bot else {}
        headers |= kwargs.pop("headers", {})
        async with self.session.request(method, self.base_url + path, headers=headers, **kwargs) as response:
            body = await response.json() if response.status != 204 else None
            return response.status, body


@pytest.fixture
async def discord_api(aiohttp_server: AiohttpServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordApi]:
    fake = DiscordApiFake()
    server = await aiohttp_server(fake.app())
    base_url = str(server.make_url("/api/v10"))
    monkeypatch.setattr(discord.http.Route, "BASE", base_url)
    async with aiohttp.ClientSession() as session:
        yield DiscordApi(fake, base_url, session)
    assert fake.answers_off_spec() == []  # the fake answers as the spec says Discord does
