"""Roles and what they allow, as pure functions: no I/O, no web framework.

admin may do everything; operator may run the tools its patterns match; approver may decide
approvals; viewer may read. A person's roles come from direct grants and from ID-token groups
(``OIDC_ROLE_MAP``); an API token acts with its creator's roles narrowed to its scopes. Chat grants give
roles to chat subjects (a Slack or Discord user, a Slack user group, a Discord role): which of them name
a chat member is decided here too; loading and storing them is :mod:`hub.sso.chat_grants`."""

from __future__ import annotations

import re
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


# Chat grants: roles given to chat identities and the groups the platforms sign for them.
ANY_TEAM = ""  # a chat grant's team_id when it holds in every Slack workspace / Discord guild
_SLACK_USER_RE = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_SLACK_GROUP_RE = re.compile(r"^S[A-Z0-9]{2,20}$")
_SNOWFLAKE_RE = re.compile(r"^[0-9]{1,20}$")
_TEAM_RE = re.compile(r"^[A-Za-z0-9]{0,64}$")


class SubjectKind(StrEnum):
    USER = "user"  # a Slack user (U…/W…) or a Discord user
    GROUP = "group"  # a Slack user group (S…): its members
    ROLE = "role"  # a Discord role: the members holding it
    # A DISCORD_APPROVERS entry: one snowflake names a user or a role, never both (snowflakes are unique).
    USER_OR_ROLE = "user_or_role"


SUBJECT_KINDS: dict[str, tuple[SubjectKind, ...]] = {
    "slack": (SubjectKind.USER, SubjectKind.GROUP),
    "discord": (SubjectKind.USER, SubjectKind.ROLE, SubjectKind.USER_OR_ROLE),
}


@dataclass(frozen=True)
class ChatGrantRule:
    """A role held by a chat subject (a user, a Slack user group, a Discord role) in a team or in any."""

    platform: str
    team_id: str
    kind: SubjectKind
    subject_id: str
    role: Role


@dataclass(frozen=True)
class ChatMember:
    """A chat identity as the platform signed it: its user id and the groups (Discord roles) it holds."""

    platform: str
    team_id: str
    user_id: str
    groups: frozenset[str] = frozenset()


def _in_scope(rule: ChatGrantRule, member: ChatMember) -> bool:
    return rule.platform == member.platform and rule.team_id in (ANY_TEAM, member.team_id)


def rule_matches(rule: ChatGrantRule, member: ChatMember) -> bool:
    """Whether ``rule`` names ``member``: its user id, or a group or role it is known to hold."""
    if not member.user_id or not _in_scope(rule, member):
        return False
    names_user = rule.kind in (SubjectKind.USER, SubjectKind.USER_OR_ROLE) and rule.subject_id == member.user_id
    names_group = rule.kind is not SubjectKind.USER and rule.subject_id in member.groups
    return names_user or names_group


def chat_grant_permissions(rules: Iterable[ChatGrantRule], member: ChatMember) -> Permissions:
    """What the chat grants naming ``member`` allow."""
    return Permissions.of(Grant(rule.role) for rule in rules if rule_matches(rule, member))


def groups_to_ask(rules: Iterable[ChatGrantRule], member: ChatMember) -> list[str]:
    """Slack user groups whose members may approve and whose membership the platform did not sign for
    ``member`` (the caller asks the platform, only when nothing else allows)."""
    approving = (r for r in rules if r.kind is SubjectKind.GROUP and Permissions.of([Grant(r.role)]).may_approve)
    return list(
        dict.fromkeys(r.subject_id for r in approving if _in_scope(r, member) and r.subject_id not in member.groups)
    )


def configured_rules(slack_approvers: Iterable[str], discord_approvers: Iterable[str]) -> frozenset[ChatGrantRule]:
    """The approver grants ``SLACK_APPROVERS`` (users U…/W…, user groups S…) and ``DISCORD_APPROVERS``
    (user or role ids) stand for, in every team."""
    slack = (
        ChatGrantRule("slack", ANY_TEAM, SubjectKind.GROUP if a.startswith("S") else SubjectKind.USER, a, Role.APPROVER)
        for a in slack_approvers
    )
    discord = (
        ChatGrantRule("discord", ANY_TEAM, SubjectKind.USER_OR_ROLE, a, Role.APPROVER) for a in discord_approvers
    )
    return frozenset([*slack, *discord])


def chat_subject_problem(platform: str, team_id: str, kind: str, subject_id: str) -> str | None:
    """Why a chat grant's subject is malformed, or None when it is well formed."""
    kinds = SUBJECT_KINDS.get(platform)
    if kinds is None:
        return f"platform must be one of {', '.join(SUBJECT_KINDS)}"
    if kind not in kinds:
        return f"on {platform} the subject kind is one of {', '.join(kinds)}"
    if not _TEAM_RE.match(team_id):
        return "team_id is a Slack team or Discord guild id, or empty for every one"
    if platform == "discord":
        ok = bool(_SNOWFLAKE_RE.match(subject_id))
    else:
        ok = bool((_SLACK_GROUP_RE if kind == SubjectKind.GROUP else _SLACK_USER_RE).match(subject_id))
    return None if ok else f"{subject_id!r} is not a {platform} {kind} id"
