"""Roles and what they allow, as pure functions: no I/O, no web framework.

admin may do everything; operator may run the tools its patterns match; approver may decide
approvals; viewer may read. A person's roles come from direct grants and from ID-token groups
(``OIDC_ROLE_MAP``); an API token acts with its creator's roles narrowed to its scopes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    APPROVER = "approver"
    VIEWER = "viewer"


# Token scopes: each names the one role it lets a token use.
SCOPE_ROLES: dict[str, Role] = {
    "admin": Role.ADMIN,
    "run": Role.OPERATOR,
    "approve": Role.APPROVER,
    "read": Role.VIEWER,
}


@dataclass(frozen=True)
class Grant:
    role: Role
    tools: tuple[str, ...] = ()  # operator only: tool patterns (``git.*``, ``*``)


@dataclass(frozen=True)
class Permissions:
    """The union of a set of grants."""

    roles: frozenset[Role]
    tool_patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, grants: Iterable[Grant]) -> Permissions:
        grants = list(grants)
        patterns = tuple(dict.fromkeys(p for g in grants if g.role is Role.OPERATOR for p in g.tools))
        return cls(frozenset(g.role for g in grants), patterns)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def may_run(self, tool: str) -> bool:
        if self.is_admin:
            return True
        return Role.OPERATOR in self.roles and any(fnmatchcase(tool, p) for p in self.tool_patterns)

    @property
    def may_approve(self) -> bool:
        return self.is_admin or Role.APPROVER in self.roles

    @property
    def may_read(self) -> bool:
        return bool(self.roles)

    def narrowed_to(self, scopes: Iterable[str]) -> Permissions:
        """What a token with ``scopes`` may do on behalf of these permissions."""
        allowed = {SCOPE_ROLES[s] for s in scopes if s in SCOPE_ROLES}
        if Role.ADMIN in allowed and self.is_admin:
            return self
        roles = frozenset(r for r in self.roles if r in allowed and r is not Role.ADMIN)
        if self.is_admin:  # an admin's narrower token keeps the lesser roles it names
            roles |= frozenset(r for r in allowed if r is not Role.ADMIN)
        patterns = self.tool_patterns if not self.is_admin else ("*",)
        return Permissions(roles, patterns if Role.OPERATOR in roles else ())


AUTOMATION = Permissions(frozenset({Role.ADMIN}), ("*",))


def group_grants(groups: Iterable[str], role_map: Iterable[tuple[str, str, tuple[str, ...]]]) -> list[Grant]:
    """Grants the ID-token ``groups`` earn through the configured map."""
    member = set(groups)
    return [Grant(Role(role), tools) for group, role, tools in role_map if group in member]
