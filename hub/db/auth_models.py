"""People signing in: their OpenID accounts, role grants, chat grants, and the append-only audit log."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from hub.db.models import User


class OidcAccount(Model):
    """A person's account at the OpenID provider (issuer + subject), bound to a :class:`User`."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="oidc_accounts", on_delete=fields.CASCADE
    )
    issuer = fields.CharField(max_length=255)
    subject = fields.CharField(max_length=255)
    groups: list[str] = fields.JSONField(default=list, description="group claim at the last sign-in")
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "oidc_accounts"
        unique_together = (("issuer", "subject"),)


class RoleGrant(Model):
    """A role granted to a person directly (group-derived roles come from ``OIDC_ROLE_MAP``)."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="role_grants", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16)
    tools: list[str] = fields.JSONField(default=list, description="operator: tool patterns it may run")
    granted_by = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "role_grants"
        unique_together = (("user", "role"),)


class ChatGrant(Model):
    """A role held by a chat subject: a Slack or Discord user, a Slack user group or a Discord role.

    Rows of source ``config`` mirror ``SLACK_APPROVERS`` / ``DISCORD_APPROVERS`` (synced when a hub starts);
    rows of source ``api`` are an admin's."""

    id = fields.UUIDField(primary_key=True)
    platform = fields.CharField(max_length=16)
    team_id = fields.CharField(max_length=64, description="Slack team or Discord guild id; empty: every one")
    subject_kind = fields.CharField(max_length=16, description="user, group (Slack), role or user_or_role (Discord)")
    subject_id = fields.CharField(max_length=64)
    role = fields.CharField(max_length=16)
    source = fields.CharField(max_length=8, description="config (the settings) or api (an admin)")
    granted_by = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_grants"
        unique_together = (("platform", "team_id", "subject_kind", "subject_id", "role", "source"),)


class AuditEntry(Model):
    """One security-relevant action; rows are only ever inserted (a trigger refuses UPDATE/DELETE)."""

    id = fields.BigIntField(primary_key=True)
    tenant_id = fields.UUIDField(null=True)
    actor = fields.CharField(max_length=200, description="user:<id>, token:<id>, chat identity or anonymous")
    action = fields.CharField(max_length=64, db_index=True)
    source = fields.CharField(max_length=64, description="door: sso, api, slack, console, ...")
    target = fields.CharField(max_length=200, default="")
    data: dict[str, Any] = fields.JSONField(default=dict, description="what changed")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_log"


class ChatLinkCode(Model):
    """A one-time, short-lived code that binds a chat identity to whoever signs in with it."""

    id = fields.UUIDField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True, description="SHA-256 of the code in the link")
    tenant_id = fields.UUIDField()
    platform = fields.CharField(max_length=16)
    team_id = fields.CharField(max_length=64)
    platform_user_id = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_link_codes"
