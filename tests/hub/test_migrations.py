"""Migrations and models must describe the same schema."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from hub.db.config import postgres_credentials, tortoise_config
from hub.db.lifecycle import apply_migrations, known_migrations, pending_migrations
from tests.conftest import Stores, create_database, drop_database

SCHEMA_SQL = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, character_maximum_length
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'tortoise_migrations'
        ORDER BY 1, 2""",
    "constraints": """
        SELECT conrelid::regclass::text AS tbl, contype, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
          AND conrelid::regclass::text <> 'tortoise_migrations'
        ORDER BY 1, 2, 3""",
    "indexes": """
        SELECT tablename, regexp_replace(indexdef, 'INDEX \\S+ ON', 'INDEX ON') AS def
        FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'tortoise_migrations'
        ORDER BY 1, 2""",
}


async def _schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    creds = postgres_credentials(url)
    conn = await asyncpg.connect(host=creds["host"], port=creds["port"], user=creds["user"], database=creds["database"])
    try:
        return {name: [tuple(row) for row in await conn.fetch(sql)] for name, sql in SCHEMA_SQL.items()}
    finally:
        await conn.close()


async def test_all_migrations_apply_to_an_empty_database_and_match_the_models(stores: Stores) -> None:
    migrated, generated = f"gs_mig_{uuid.uuid4().hex[:8]}", f"gs_gen_{uuid.uuid4().hex[:8]}"
    migrated_url = await create_database(stores, migrated)
    generated_url = await create_database(stores, generated)
    try:
        assert await apply_migrations(migrated_url) == known_migrations()
        assert await apply_migrations(migrated_url) == [], "a second run applies nothing"
        await Tortoise.init(config=tortoise_config(generated_url, maxsize=2))
        await Tortoise.generate_schemas()
        await Tortoise.close_connections()
        from_migrations, from_models = await _schema(migrated_url), await _schema(generated_url)
        assert from_migrations["columns"], "the migrations created no tables"
        for part in SCHEMA_SQL:
            assert from_migrations[part] == from_models[part], part
    finally:
        await drop_database(stores, migrated)
        await drop_database(stores, generated)


async def test_models_have_no_changes_missing_from_the_migrations(database_url: str) -> None:
    config = tortoise_config(database_url, maxsize=2)
    await Tortoise.init(config=config)
    try:
        detector = MigrationAutodetector(Tortoise.apps, config["apps"])
        writers = await detector.changes()
        assert [w.name for w in writers] == [], "run `tortoise makemigrations` and commit the result"
    finally:
        await Tortoise.close_connections()


async def test_pending_migrations_lists_what_an_empty_database_lacks(stores: Stores) -> None:
    name = f"gs_empty_{uuid.uuid4().hex[:8]}"
    url = await create_database(stores, name)
    creds = postgres_credentials(url)
    conn = await asyncpg.connect(host=creds["host"], port=creds["port"], user=creds["user"], database=name)
    try:
        assert await pending_migrations(conn) == known_migrations()
    finally:
        await conn.close()
        await drop_database(stores, name)
