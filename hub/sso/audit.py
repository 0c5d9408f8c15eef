"""Writing and reading the append-only audit log."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any
from uuid import UUID

from hub.db.auth_models import AuditEntry

log = logging.getLogger(__name__)


class Action(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    IDENTITY_LINKED = "identity_linked"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    APPROVAL_DECIDED = "approval_decided"
    JOB_CANCELLED = "job_cancelled"
    JOB_RETRIED = "job_retried"


async def record(
    action: Action,
    *,
    actor: str,
    source: str,
    target: str = "",
    data: dict[str, Any] | None = None,
    tenant_id: UUID | None = None,
) -> None:
    """Append one entry (never a secret in ``data``)."""
    await AuditEntry.create(
        tenant_id=tenant_id,
        actor=actor[:200],
        action=action.value,
        source=source,
        target=target[:200],
        data=data or {},
    )
    log.info("audit %s", action.value, extra={"actor": actor, "target": target, "source": source})
