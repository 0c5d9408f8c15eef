"""Redis connections that pack commands in C.

redis-py's asyncio connections pack every command in Python (its sync connections use hiredis when
it is installed); in the hub and the agent that was a tenth of all CPU per job. These connections
use redis-py's own hiredis serializer instead: same bytes on the wire, a type it cannot send still
raises ``DataError``."""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.connection import HiredisRespSerializer

_SERIALIZER = HiredisRespSerializer()


class _HiredisPacking:
    def pack_command(self, *args: Any) -> list[bytes]:
        return _SERIALIZER.pack(*args)  # type: ignore[no-any-return]


def hiredis_packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` with commands packed by hiredis."""
    if issubclass(connection_class, _HiredisPacking):
        return connection_class
    return type(f"Hiredis{connection_class.__name__}", (_HiredisPacking, connection_class), {})


def pack_with_hiredis(pool: ConnectionPool) -> ConnectionPool:
    """Make ``pool`` open hiredis-packing connections (those already open keep packing in Python)."""
    pool.connection_class = hiredis_packing(pool.connection_class)
    return pool
