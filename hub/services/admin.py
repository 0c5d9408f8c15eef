"""Tenants, agents and API tokens: what the CLI creates (keys are shown once, stored hashed)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tortoise.transactions import in_transaction

from hub.db.models import ApiToken, Tenant, Worker
from hub.security.keys import KeyKind, new_key

DEFAULT_TENANT = "default"


class AdminError(ValueError):
    """A refused administrative request (the message says why)."""


async def ensure_tenant(slug: str = DEFAULT_TENANT) -> Tenant:
    tenant, _ = await Tenant.get_or_create(slug=slug, defaults={"name": slug})
    return tenant


def chat_tenant_slug(platform: str, team_id: str) -> str:
    """The tenant of a Slack workspace or Discord guild: ``slack-t0abc``, ``discord-1200000000000000020``."""
    return f"{platform}-{team_id.lower()}"


async def chat_tenant(platform: str, team_id: str | None) -> UUID:
    """A workspace or guild that has its own tenant (created by installing the app there, or by registering
    an agent with ``--tenant``) uses it; any other shares the default tenant."""
    if team_id:
        tenant = await Tenant.get_or_none(slug=chat_tenant_slug(platform, team_id)).only("id")
        if tenant is not None:
            return tenant.id
    return (await ensure_tenant()).id


@dataclass(frozen=True)
class Issued:
    """A new agent or token and its key, which exists nowhere else."""

    name: str
    key: str


async def add_worker(name: str, labels: dict[str, str], tenant_slug: str = DEFAULT_TENANT) -> Issued:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise AdminError("an agent name is 1-64 letters, digits, '-', '_' or '.'")
    tenant = await ensure_tenant(tenant_slug)
    async with in_transaction() as connection:
        if await Worker.filter(tenant_id=tenant.id, name=name).using_db(connection).exists():
            raise AdminError(f"an agent named {name!r} already exists")
        key = new_key(KeyKind.WORKER_KEY)
        await Worker.create(
            tenant_id=tenant.id, name=name, api_key_prefix=key.prefix, api_key_hash=key.key_hash, labels=labels,
            using_db=connection,
        )  # fmt: skip
    return Issued(name, key.secret_key)


async def rotate_worker_key(name: str, tenant_slug: str = DEFAULT_TENANT) -> Issued:
    tenant = await ensure_tenant(tenant_slug)
    key = new_key(KeyKind.WORKER_KEY)
    updated = await Worker.filter(tenant_id=tenant.id, name=name).update(
        api_key_prefix=key.prefix, api_key_hash=key.key_hash
    )
    if not updated:
        raise AdminError(f"no agent named {name!r}")
    return Issued(name, key.secret_key)


async def add_token(name: str, scopes: list[str], tenant_slug: str = DEFAULT_TENANT) -> Issued:
    tenant = await ensure_tenant(tenant_slug)
    key = new_key(KeyKind.API_TOKEN)
    await ApiToken.create(tenant_id=tenant.id, name=name, prefix=key.prefix, token_hash=key.key_hash, scopes=scopes)
    return Issued(name, key.secret_key)
