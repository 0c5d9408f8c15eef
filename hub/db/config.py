"""Tortoise configuration built from a database URL (unix-socket URLs included)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

# Every module holding Tortoise models of the one app "models" (one migration history).
MODELS_MODULES: tuple[str, ...] = ("hub.db.models", "hub.db.webhook_models", "hub.db.auth_models")
MIGRATIONS_MODULE = "migrations"


def postgres_credentials(database_url: str) -> dict[str, Any]:
    """asyncpg credentials from ``postgresql://user:pass@host:port/db?host=/socket/dir``."""
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    return {
        "host": unquote(host),
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/") or "postgres"),
        "minsize": 1,
        "maxsize": 10,
    }


def with_database(database_url: str, name: str) -> str:
    """The same server URL naming another database."""
    return urlunsplit(urlsplit(database_url)._replace(path="/" + name))


async def _skip_session_reset(connection: Any) -> None:
    """asyncpg runs ``RESET ALL; UNLISTEN *; CLOSE ALL; ...`` on every release back to the pool: a
    round trip per ORM query. Our pooled sessions set no session state, listen to nothing, hold no
    cursors or advisory locks (migrations lock on their own connection), so there is nothing to reset;
    asyncpg still ends any open transaction before the connection is reused."""


def tortoise_config(database_url: str, *, maxsize: int = 10) -> dict[str, Any]:
    credentials = postgres_credentials(database_url)
    credentials["maxsize"] = maxsize
    credentials["reset"] = _skip_session_reset
    return {
        "connections": {"default": {"engine": "tortoise.backends.asyncpg", "credentials": credentials}},
        "apps": {
            "models": {
                "models": list(MODELS_MODULES),
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Used by the ``tortoise`` CLI (``[tool.tortoise]`` in pyproject) to generate migrations.
TORTOISE_ORM = tortoise_config("postgresql://postgres@127.0.0.1:5432/postgres")
