"""Commands packed by hiredis: the same bytes as redis-py's own packing, and they work against Redis."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from jobs.redis_packing import hiredis_packing, pack_with_hiredis

COMMANDS: list[tuple[Any, ...]] = [
    ("SET", "key", "value"),
    ("CONFIG GET", "maxmemory"),
    ("ZADD", b"queue", 1732600000000, "job:1", 0.1, "job:2", 1 / 3, "job:3"),
    ("EVALSHA", "0123abcd", 2, "k1", "k2", -5, b"\x00\xff binary"),
    ("PUBLISH", "gs:events:t:j", '{"text": "é ✓"}'),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_hiredis_packs_the_same_bytes_as_redis_py(command: tuple[Any, ...]) -> None:
    python, hiredis = Connection(), hiredis_packing(Connection)()
    assert b"".join(hiredis.pack_command(*command)) == b"".join(python.pack_command(*command))


def test_a_value_redis_cannot_take_is_still_refused() -> None:
    with pytest.raises(DataError):
        hiredis_packing(Connection)().pack_command("SET", "key", None)  # type: ignore[arg-type]


def test_each_connection_class_keeps_its_own_kind_and_is_wrapped_once() -> None:
    unix = hiredis_packing(UnixDomainSocketConnection)
    assert issubclass(unix, UnixDomainSocketConnection) and hiredis_packing(unix) is unix


async def test_a_pool_packing_with_hiredis_talks_to_redis(redis_url: str) -> None:
    pool = pack_with_hiredis(ConnectionPool.from_url(redis_url))
    client = Redis(connection_pool=pool)
    try:
        await client.set("packing:key", "välue")
        async with client.pipeline(transaction=True) as pipe:
            pipe.get("packing:key")
            pipe.zadd("packing:z", {"a": 1.5})
            pipe.zscore("packing:z", "a")
            assert await pipe.execute() == ["välue".encode(), 1, 1.5]
        script = client.register_script("return redis.call('GET', KEYS[1])")
        assert await script(keys=["packing:key"]) == "välue".encode()
        connection = await pool.get_connection()
        assert type(connection).__name__.startswith("Hiredis")
        await pool.release(connection)
    finally:
        await client.delete("packing:key", "packing:z")
        await client.aclose()
