"""The interactions endpoint's lock, in process: the published vector, one-byte changes, stale timestamps."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from hub.keys import METRICS, SETTINGS
from hub.metrics import Metrics
from hub.middleware import request_context
from hub.routes import discord
from hub.settings import Settings
from tests.discord.support import PUBLIC_KEY, signed
from tests.fakes.discord_api import DiscordApiFake

VECTOR_BODY = b'{"type":1}'
VECTOR_HEADERS = {
    "X-Signature-Timestamp": "1700000000",
    "X-Signature-Ed25519": "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228"
    "ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f",
    "Content-Type": "application/json",
}


@pytest.fixture
async def door(aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    settings = Settings.from_env({"DISCORD_PUBLIC_KEY": PUBLIC_KEY, "GARAGESWARM_DATA_DIR": str(tmp_path)})
    app = web.Application(middlewares=[request_context])
    app[SETTINGS], app[METRICS] = settings, Metrics.create()
    discord.add_routes(app, settings)
    monkeypatch.setattr(discord.time, "time", lambda: 1_700_000_030.0)  # the vector's clock, 30 s later
    return await aiohttp_client(app)


async def test_the_published_vector_is_a_ping_answered_with_pong(door: Any) -> None:
    response = await door.post("/discord/interactions", data=VECTOR_BODY, headers=VECTOR_HEADERS)

    assert response.status == 200 and await response.json() == {"type": 1}


@pytest.mark.parametrize(
    ("body", "changes"),
    [
        (b'{"type":2}', {}),  # tampered body
        (VECTOR_BODY, {"X-Signature-Timestamp": "1700000001"}),  # tampered timestamp
        (VECTOR_BODY, {"X-Signature-Ed25519": "0" + VECTOR_HEADERS["X-Signature-Ed25519"][1:]}),  # signature
        (VECTOR_BODY, {"X-Signature-Ed25519": ""}),  # unsigned
        (VECTOR_BODY, {"X-Signature-Ed25519": "zz"}),  # not hex
    ],
)
async def test_tampered_or_unsigned_interactions_get_401(door: Any, body: bytes, changes: dict[str, str]) -> None:
    response = await door.post("/discord/interactions", data=body, headers={**VECTOR_HEADERS, **changes})

    assert response.status == 401


async def test_a_correctly_signed_but_stale_interaction_gets_401(door: Any) -> None:
    response = await door.post(
        "/discord/interactions", data=VECTOR_BODY, headers=signed(VECTOR_BODY, 1_700_000_030 - 600)
    )

    assert response.status == 401


async def test_an_unknown_interaction_type_is_a_400(door: Any) -> None:
    body = b'{"type":99}'
    response = await door.post("/discord/interactions", data=body, headers=signed(body, 1_700_000_030))

    assert response.status == 400


def test_the_door_is_closed_without_a_public_key(tmp_path: Any) -> None:
    app = web.Application()
    discord.add_routes(app, Settings.from_env({"GARAGESWARM_DATA_DIR": str(tmp_path)}))

    assert not [r for r in app.router.routes() if "discord" in str(r.resource)]


async def test_a_command_that_is_not_ours_is_answered_only_to_the_asker(door: Any) -> None:
    body = json.dumps({"type": 2, "id": "1", "token": "t", "data": {"name": "other", "type": 1}}).encode()

    response = await door.post("/discord/interactions", data=body, headers=signed(body, 1_700_000_030))

    answer = await response.json()
    assert response.status == 200 and answer["type"] == 4 and answer["data"]["flags"] == 64
    assert "not the /swarm slash command" in answer["data"]["content"]
    DiscordApiFake().record_answer("t", answer)  # Discord would take it


@pytest.mark.parametrize(
    ("interaction", "field"),
    [
        ({"type": 3, "id": "1", "token": "t", "member": "ada", "data": {"custom_id": "swarm:approve:3f2a"}}, "member"),
        ({"type": 3, "id": "1", "token": "t", "member": {"user": ["ada"]}, "data": {}}, "member.user"),
        ({"type": 2, "id": {"snowflake": 1}, "token": "t", "data": {}}, "id"),
        ({"type": 2, "id": "1", "token": "t", "guild_id": 1200000000000000020, "data": {}}, "guild_id"),
        ({"type": 2, "id": "1", "token": "t", "data": ["swarm"]}, "data"),
        ({"type": True}, "type"),
    ],
)
async def test_a_signed_interaction_with_a_field_of_the_wrong_type_is_a_400(
    door: Any, interaction: dict[str, Any], field: str
) -> None:
    body = json.dumps(interaction).encode()
    response = await door.post("/discord/interactions", data=body, headers=signed(body, 1_700_000_030))

    answer = await response.json()
    assert response.status == 400 and answer["error"]["message"].startswith(f"not a Discord interaction: {field}:")


async def test_a_signature_header_given_twice_is_a_401(door: Any) -> None:
    headers = [*VECTOR_HEADERS.items(), ("X-Signature-Ed25519", VECTOR_HEADERS["X-Signature-Ed25519"])]
    response = await door.post("/discord/interactions", data=VECTOR_BODY, headers=headers)

    assert response.status == 401 and "given more than once" in (await response.json())["error"]["message"]
