"""People: their accounts from sign-in, their roles (grants and groups), their linked chat identities."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.transactions import in_transaction

from hub.db.auth_models import ChatLinkCode, OidcAccount, RoleGrant
from hub.db.models import ChatIdentity, Platform, User
from hub.security.roles import AUTOMATION, Grant, Permissions, Role, group_grants
from hub.settings import Settings

LINK_TTL_S = 600.0


@dataclass(frozen=True)
class ChatRef:
    platform: str
    team_id: str
    platform_user_id: str


def chat_ref(identity: str) -> ChatRef:
    """``slack:T1:U1`` → its parts; ``console:NAME`` has no team."""
    platform, _, rest = identity.partition(":")
    team, sep, user = rest.partition(":")
    return ChatRef(platform, team, user) if sep else ChatRef(platform, "", team)


def groups_of(claims: dict[str, Any], claim_name: str) -> list[str]:
    value = claims.get(claim_name)
    if isinstance(value, str):
        return [value]
    return [str(g) for g in value] if isinstance(value, list) else []


async def sign_in(tenant_id: UUID, issuer: str, claims: dict[str, Any], groups: list[str]) -> User:
    """The person behind verified ``claims``, created on their first sign-in; groups remembered."""
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    name = str(claims.get("name") or claims.get("preferred_username") or email or claims["sub"])[:200]
    async with in_transaction() as connection:
        account = await OidcAccount.filter(issuer=issuer, subject=claims["sub"]).using_db(connection).first()
        if account is None:
            user = await User.create(tenant_id=tenant_id, email=None, display_name=name, using_db=connection)
            account = await OidcAccount.create(user=user, issuer=issuer, subject=claims["sub"], using_db=connection)
        else:
            user = await User.get(id=account.user_id).using_db(connection)  # type: ignore[attr-defined]
        # The email is informational: accounts are matched by (issuer, subject), never by email.
        if email and email != user.email and not await User.filter(tenant_id=tenant_id, email=email).exists():
            user.email = email
        user.display_name = name
        await user.save(using_db=connection)
        account.groups, account.last_login_at = groups, datetime.now(UTC)
        await account.save(using_db=connection)
    return user


async def person_permissions(user_id: UUID, settings: Settings) -> Permissions:
    """Direct grants plus what the groups of the person's last sign-in earn."""
    grants = [Grant(Role(g.role), tuple(g.tools)) for g in await RoleGrant.filter(user_id=user_id)]
    for account in await OidcAccount.filter(user_id=user_id):
        grants += group_grants(account.groups, settings.oidc_role_map)
    return Permissions.of(grants)


async def caller_permissions(user_id: UUID | None, scopes: tuple[str, ...], settings: Settings) -> Permissions:
    """An API token's permissions: its creator's, narrowed to its scopes; a token without a creator
    (made by ``garageswarm tokens add`` for automation) acts as an admin."""
    if user_id is None:
        return AUTOMATION
    return (await person_permissions(user_id, settings)).narrowed_to(scopes)


async def chat_user(identity: str) -> User | None:
    """The person a chat identity (``platform:team:user``) is linked to, if any."""
    ref = chat_ref(identity)
    if ref.platform not in {p.value for p in Platform}:
        return None
    linked = await ChatIdentity.get_or_none(
        platform=ref.platform, team_id=ref.team_id, platform_user_id=ref.platform_user_id
    ).prefetch_related("user")
    return linked.user if linked else None


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def issue_link_code(tenant_id: UUID, identity: str) -> str:
    """A one-time code for ``/auth/link/{code}`` (stored hashed, valid ``LINK_TTL_S``)."""
    ref = chat_ref(identity)
    code = secrets.token_urlsafe(24)
    await ChatLinkCode.create(
        code_hash=_hash(code),
        tenant_id=tenant_id,
        platform=ref.platform,
        team_id=ref.team_id,
        platform_user_id=ref.platform_user_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=LINK_TTL_S),
    )
    return code


async def link_code_valid(code: str) -> bool:
    now = datetime.now(UTC)
    return await ChatLinkCode.filter(code_hash=_hash(code), used_at=None, expires_at__gt=now).exists()


async def link_code_target(code: str) -> ChatRef | None:
    """The chat identity a valid (unused, unexpired) code would bind; None otherwise."""
    now = datetime.now(UTC)
    link = await ChatLinkCode.get_or_none(code_hash=_hash(code), used_at=None, expires_at__gt=now)
    return ChatRef(link.platform, link.team_id, link.platform_user_id) if link else None


async def redeem_link_code(code: str, user: User) -> ChatRef | None:
    """Bind the code's chat identity to ``user`` (once); None when used, expired or unknown."""
    now = datetime.now(UTC)
    async with in_transaction() as connection:
        claimed = (
            await ChatLinkCode.filter(code_hash=_hash(code), used_at=None, expires_at__gt=now)
            .using_db(connection)
            .update(used_at=now)
        )
        if not claimed:
            return None
        link = await ChatLinkCode.filter(code_hash=_hash(code)).using_db(connection).get()
        ref = ChatRef(link.platform, link.team_id, link.platform_user_id)
        await (
            ChatIdentity.filter(platform=ref.platform, team_id=ref.team_id, platform_user_id=ref.platform_user_id)
            .using_db(connection)
            .delete()
        )
        await ChatIdentity.create(
            user=user,
            platform=ref.platform,
            team_id=ref.team_id,
            platform_user_id=ref.platform_user_id,
            using_db=connection,
        )
    return ref


# The linked person's direct grants and the groups of their sign-ins, in one round trip (the approval hot path).
_LINKED_SQL = """
SELECT
  (SELECT coalesce(json_agg(json_build_array(g.role, g.tools)), '[]') FROM role_grants g
    WHERE g.user_id = c.user_id)::text AS grants,
  (SELECT coalesce(json_agg(a.groups), '[]') FROM oidc_accounts a WHERE a.user_id = c.user_id)::text AS groups
FROM chat_identities c
WHERE c.platform = $1 AND c.team_id = $2 AND c.platform_user_id = $3"""


async def linked_permissions(ref: ChatRef, settings: Settings) -> Permissions:
    """The permissions of the person a chat identity is linked to (none when unlinked), in one query."""
    rows = await connections.get("default").execute_query_dict(
        _LINKED_SQL, [ref.platform, ref.team_id, ref.platform_user_id]
    )
    if not rows:
        return Permissions.of([])
    grants = [Grant(Role(role), tuple(tools)) for role, tools in json.loads(rows[0]["grants"])]
    for groups in json.loads(rows[0]["groups"]):
        grants += group_grants(groups, settings.oidc_role_map)
    return Permissions.of(grants)
