"""Bodies of the sign-in, people, token and audit APIs (their JSON Schemas feed OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from hub.routes.schemas import _examples

_USER = "0b7c3a52-3a3e-4c3b-9a57-4b1d0a1e9c11"
_TOKEN = "7d1e2f30-1111-4c3b-9a57-4b1d0a1e9c11"
_AT = "2026-11-25T10:00:00Z"
_TOKEN_EXAMPLE = {
    "id": _TOKEN, "name": "ci", "prefix": "a1b2c3d4e5f6", "scopes": ["run"], "created_at": _AT,
    "expires_at": "2026-12-25T10:00:00Z", "revoked_at": None,
}  # fmt: skip
Scope = Literal["read", "run", "approve", "admin"]
RoleName = Literal["admin", "operator", "approver", "viewer"]


class ChatIdentityView(BaseModel):
    platform: str
    team_id: str
    platform_user_id: str


class Me(BaseModel):
    id: UUID
    email: str | None
    display_name: str
    roles: list[str]
    tool_patterns: list[str]
    chat_identities: list[ChatIdentityView]

    model_config = _examples(
        {
            "id": _USER,
            "email": "ada@example.com",
            "display_name": "Ada",
            "roles": ["operator"],
            "tool_patterns": ["demo.*"],
            "chat_identities": [{"platform": "slack", "team_id": "T012", "platform_user_id": "U34"}],
        }
    )


class SignedOut(BaseModel):
    signed_out: bool

    model_config = _examples({"signed_out": True})


class CreateToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    expires_in_days: int | None = Field(default=90, ge=1, le=366, description="null: never expires")

    model_config = _examples({"name": "ci", "scopes": ["run"], "expires_in_days": 30})


class TokenView(BaseModel):
    model_config = _examples(_TOKEN_EXAMPLE) | {"from_attributes": True}

    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenView):
    token: str = Field(description="shown once: it is stored only as a hash")

    model_config = _examples({**_TOKEN_EXAMPLE, "token": "gs_a1b2c3d4e5f6_..."})


class TokenList(BaseModel):
    tokens: list[TokenView]

    model_config = _examples({"tokens": []})


class CreateGrant(BaseModel):
    user_id: UUID
    role: RoleName
    tools: list[str] = Field(default_factory=list, description="operator: tool patterns such as git.* or *")

    model_config = _examples({"user_id": _USER, "role": "operator", "tools": ["demo.*"]})


class GrantView(BaseModel):
    id: UUID
    user_id: UUID
    role: str
    tools: list[str]
    granted_by: str
    created_at: datetime

    model_config = _examples(
        {
            "id": _TOKEN,
            "user_id": _USER,
            "role": "operator",
            "tools": ["demo.*"],
            "granted_by": "user:…",
            "created_at": _AT,
        }
    )


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    source: str
    target: str
    data: dict[str, Any]


class AuditList(BaseModel):
    entries: list[AuditView]

    model_config = _examples(
        {
            "entries": [
                {
                    "id": 1,
                    "at": _AT,
                    "actor": f"user:{_USER}",
                    "action": "token_created",
                    "source": "api",
                    "target": f"token:{_TOKEN}",
                    "data": {"scopes": ["run"]},
                }
            ]
        }
    )


_CHAT_GRANT_EXAMPLE = {
    "id": _TOKEN, "platform": "slack", "team_id": "", "subject_kind": "group", "subject_id": "S0APPROVERS",
    "role": "approver", "source": "api", "granted_by": f"user:{_USER}", "created_at": _AT,
}  # fmt: skip


class CreateChatGrant(BaseModel):
    platform: Literal["slack", "discord"]
    team_id: str = Field(max_length=64, description="Slack team or Discord guild id, of the admin's tenant")
    subject_kind: Literal["user", "group", "role", "user_or_role"] = Field(
        description="slack: user (U…/W…) or group (a user group, S…); discord: user, role or user_or_role"
    )
    subject_id: str = Field(min_length=1, max_length=64)
    role: Literal["approver"] = Field(default="approver", description="chat grants give the approver role")

    model_config = _examples(
        {
            "platform": "slack",
            "team_id": "T0GARAGE01",
            "subject_kind": "group",
            "subject_id": "S0APPROVERS",
            "role": "approver",
        }
    )


class ChatGrantView(BaseModel):
    model_config = _examples(_CHAT_GRANT_EXAMPLE) | {"from_attributes": True}

    id: UUID
    platform: str
    team_id: str
    subject_kind: str
    subject_id: str
    role: str
    source: str = Field(description="config: from SLACK_APPROVERS / DISCORD_APPROVERS; api: an admin's")
    granted_by: str
    created_at: datetime


class ChatGrantList(BaseModel):
    grants: list[ChatGrantView]

    model_config = _examples({"grants": [_CHAT_GRANT_EXAMPLE]})
