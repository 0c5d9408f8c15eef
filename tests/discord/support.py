"""Signed Discord interactions for the door tests (the RFC 8032 TEST 1 key, as in VECTORS.md)."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

import aiohttp
from nacl.signing import SigningKey

from tests.fakes.discord_api import APPLICATION_ID, GUILD_ID, INTERACTION_CHANNEL_ID

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
USER = "1400000000000000001"
_IDS = itertools.count(1)


def snowflake() -> str:
    """A fresh interaction id (a snowflake of now)."""
    return str(((int(time.time() * 1000) - 1_420_070_400_000) << 22) | (next(_IDS) & 0xFFF))


def signed(body: bytes, timestamp: int | None = None, seed: bytes = SEED) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SigningKey(seed).sign(ts.encode() + body).signature.hex()
    return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": ts, "Content-Type": "application/json"}


def member(user: str = USER, roles: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"user": {"id": user, "username": "ada", "discriminator": "0", "global_name": "Ada"}, "roles": list(roles)}


def interaction(
    kind: int, data: dict[str, Any], *, user: str = USER, roles: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    """An interaction as Discord sends it to the endpoint, with a fresh id and token."""
    return {
        "id": snowflake(), "application_id": APPLICATION_ID, "type": kind, "data": data,
        "token": f"tok-{secrets.token_urlsafe(24)}", "version": 1, "guild_id": GUILD_ID,
        "channel_id": INTERACTION_CHANNEL_ID, "member": member(user, roles), **extra,
    }  # fmt: skip


def swarm(subcommand: str, **options: str) -> dict[str, Any]:
    """The ``data`` of a ``/swarm SUBCOMMAND`` interaction."""
    values = [{"type": 3, "name": name, "value": value} for name, value in options.items()]
    return {"id": "1500000000000000001", "name": "swarm", "type": 1,
            "options": [{"type": 1, "name": subcommand, "options": values}]}  # fmt: skip


async def post(
    url: str, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any, float]:
    """POST an interaction (signed now unless ``headers``) and return status, decoded answer and seconds taken."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/discord/interactions", data=body, headers=headers or signed(body)) as response,
    ):
        answer = await response.json(content_type=None) if response.content_length != 0 else None
        return response.status, answer, time.perf_counter() - started
