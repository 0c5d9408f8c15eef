"""Chat grants: roles held by chat subjects (Slack and Discord users, Slack user groups, Discord roles).

``SLACK_APPROVERS`` and ``DISCORD_APPROVERS`` become rows of source ``config``, synced whenever a hub
starts (entries no longer configured disappear); admins add rows of source ``api``. :func:`may_approve`
is the one answer to "may this chat member decide approvals?": its chat grants plus its linked person's roles.
The matching itself is pure (:mod:`hub.security.roles`); this module does the I/O."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from tortoise.exceptions import BaseORMException
from tortoise.transactions import in_transaction

from hub.db.auth_models import ChatGrant
from hub.security.roles import (
    ANY_TEAM,
    ChatGrantRule,
    ChatMember,
    Role,
    SubjectKind,
    chat_grant_permissions,
    configured_rules,
    groups_to_ask,
)
from hub.settings import Settings
from hub.sso import people
from hub.sso.audit import Action, record

log = logging.getLogger(__name__)
CONFIG = "config"
API = "api"
# Any fixed 64-bit number: hubs starting together sync one after the other.
SYNC_LOCK_ID = 0x6761726167650002
SYNC_RETRY_S = 5.0

InGroup = Callable[[str], Awaitable[bool]]  # is the member in this Slack user group? (asks Slack)


def rule_of(grant: ChatGrant) -> ChatGrantRule:
    return ChatGrantRule(grant.platform, grant.team_id, SubjectKind(grant.subject_kind), grant.subject_id,
                         Role(grant.role))  # fmt: skip


def grant_target(rule: ChatGrantRule) -> str:
    """How the audit log names a chat grant's subject: ``slack:*:group:S0123``."""
    return f"{rule.platform}:{rule.team_id or '*'}:{rule.kind.value}:{rule.subject_id}"


async def audit_change(action: Action, rule: ChatGrantRule, *, actor: str, source: str, grant_id: UUID,
                 tenant_id: UUID | None = None) -> None:  # fmt: skip
    """Audit a chat grant given or taken back (role_granted / role_revoked, targeting its subject)."""
    await record(
        action, actor=actor, source=source, target=grant_target(rule), tenant_id=tenant_id,
        data={"role": rule.role.value, "chat_grant": str(grant_id), "source": source},
    )  # fmt: skip


async def sync_config_grants(settings: Settings) -> tuple[int, int]:
    """Make the ``config`` rows say what the settings say; return (added, removed). Idempotent."""
    wanted = configured_rules(settings.slack_approvers, settings.discord_approvers)
    async with in_transaction() as connection:
        await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [SYNC_LOCK_ID])
        current = {rule_of(g): g for g in await ChatGrant.filter(source=CONFIG).using_db(connection)}
        removed = [grant for rule, grant in current.items() if rule not in wanted]
        if removed:
            await ChatGrant.filter(id__in=[g.id for g in removed]).using_db(connection).delete()
        added = []
        for rule in sorted(wanted - current.keys(), key=grant_target):
            added.append(
                await ChatGrant.create(
                    platform=rule.platform, team_id=rule.team_id, subject_kind=rule.kind.value,
                    subject_id=rule.subject_id, role=rule.role.value, source=CONFIG, granted_by=CONFIG,
                    using_db=connection,
                )
            )  # fmt: skip
    for grant in added:
        await audit_change(Action.ROLE_GRANTED, rule_of(grant), actor=CONFIG, source=CONFIG, grant_id=grant.id)
    for grant in removed:
        await audit_change(Action.ROLE_REVOKED, rule_of(grant), actor=CONFIG, source=CONFIG, grant_id=grant.id)
    if added or removed:
        log.info("configured chat grants synced", extra={"added": len(added), "removed": len(removed)})
    return len(added), len(removed)


async def _sync_until_done(settings: Settings) -> None:
    while True:
        await asyncio.sleep(SYNC_RETRY_S)
        try:
            await sync_config_grants(settings)
        except (BaseORMException, OSError) as exc:
            log.warning("configured chat grants not synced yet: %s", type(exc).__name__)
        else:
            return


async def sync_at_start(settings: Settings) -> asyncio.Task[None] | None:
    """Sync now; when the database is not ready (unreachable, migrations pending) keep trying in a task."""
    try:
        await sync_config_grants(settings)
    except (BaseORMException, OSError) as exc:
        log.warning("configured chat grants not synced (retrying): %s", type(exc).__name__)
        return asyncio.create_task(_sync_until_done(settings))
    return None


async def add_grant(rule: ChatGrantRule, *, actor: str, tenant_id: UUID) -> tuple[ChatGrant, bool]:
    """An admin's chat grant (source ``api``) and whether it is new; a new one is audited."""
    grant, created = await ChatGrant.get_or_create(
        platform=rule.platform, team_id=rule.team_id, subject_kind=rule.kind.value, subject_id=rule.subject_id,
        role=rule.role.value, source=API, defaults={"granted_by": actor},
    )  # fmt: skip
    if created:
        await audit_change(Action.ROLE_GRANTED, rule, actor=actor, source=API, grant_id=grant.id, tenant_id=tenant_id)
    return grant, created


async def remove_grant(grant: ChatGrant, *, actor: str, tenant_id: UUID) -> None:
    """Take an admin's chat grant back (audited); ``config`` rows follow the settings instead."""
    await grant.delete()
    await audit_change(Action.ROLE_REVOKED, rule_of(grant), actor=actor, source=API, grant_id=grant.id,
                       tenant_id=tenant_id)  # fmt: skip


async def _rules_for(member: ChatMember, *, every_group: bool) -> list[ChatGrantRule]:
    """The chat grants that could name ``member`` (one query); with ``every_group`` all of its team's
    group grants too, for the caller to ask the platform about."""
    named = [member.user_id, *member.groups]
    query = ChatGrant.filter(platform=member.platform, team_id__in=[ANY_TEAM, member.team_id])
    if not every_group:
        query = query.filter(subject_id__in=named)
    rows = await query.values_list("platform", "team_id", "subject_kind", "subject_id", "role")
    return [ChatGrantRule(p, t, SubjectKind(k), s, Role(r)) for p, t, k, s, r in rows]


async def may_approve(member: ChatMember, settings: Settings, in_group: InGroup | None = None) -> bool:
    """Whether a chat member may decide approvals: a chat grant names them (their user id, a Discord role
    they hold, a Slack user group they are in) or their linked person holds the approver (or admin) role.

    Two queries at most; ``in_group`` (Slack: group membership is not in the click) is asked only when
    neither allows."""
    if not member.user_id:
        return False
    rules = await _rules_for(member, every_group=in_group is not None)
    if chat_grant_permissions(rules, member).may_approve:
        return True
    ref = people.ChatRef(member.platform, member.team_id, member.user_id)
    if (await people.linked_permissions(ref, settings)).may_approve:
        return True
    if in_group is None:
        return False
    for group in groups_to_ask(rules, member):
        if await in_group(group):
            return True
    return False
