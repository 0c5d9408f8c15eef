"""Connect, migrate and check the database."""

from __future__ import annotations

import pkgutil
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.migrations.api import migrate

import migrations as migrations_package

from .config import postgres_credentials, tortoise_config

MIGRATIONS_TABLE = "tortoise_migrations"
# Any fixed 64-bit number: serialises concurrent ``migrate`` runs (hub and worker starting together).
MIGRATION_LOCK_ID = 0x6761726167650001


def known_migrations() -> list[str]:
    """Names of the migrations shipped in the ``migrations`` package, in order."""
    return sorted(m.name for m in pkgutil.iter_modules(migrations_package.__path__) if m.name[:4].isdigit())


async def connect_raw(database_url: str) -> asyncpg.Connection:
    creds = postgres_credentials(database_url)
    conn: asyncpg.Connection = await asyncpg.connect(
        host=creds["host"],
        port=creds["port"],
        user=creds["user"],
        password=creds["password"] or None,
        database=creds["database"],
        timeout=10,
    )
    return conn


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    """Shipped migrations not yet recorded as applied in the database."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MIGRATIONS_TABLE)
    applied: set[str] = set()
    if exists:
        rows = await conn.fetch(f"SELECT name FROM {MIGRATIONS_TABLE} WHERE app = 'models'")  # noqa: S608
        applied = {row["name"] for row in rows}
    return [name for name in known_migrations() if name not in applied]


async def apply_migrations(database_url: str) -> list[str]:
    """Apply every pending migration under an advisory lock; return the names applied."""
    lock_conn = await connect_raw(database_url)
    try:
        await lock_conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        pending = await pending_migrations(lock_conn)
        if pending:
            config: dict[str, Any] = tortoise_config(database_url, maxsize=2)
            try:
                await migrate(config=config)
            finally:
                await Tortoise.close_connections()
        return pending
    finally:
        await lock_conn.close()


async def init_orm(database_url: str, *, maxsize: int = 10) -> None:
    await Tortoise.init(config=tortoise_config(database_url, maxsize=maxsize))


async def close_orm() -> None:
    await Tortoise.close_connections()
