"""People on the REST API: who is signed in, their API tokens, role grants, chat grants and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from aiohttp import web
from tortoise.expressions import Q

from hub.auth import AUTH_CACHE, authenticate_caller
from hub.db.auth_models import AuditEntry, ChatGrant, RoleGrant
from hub.db.models import ApiToken, ChatIdentity, User
from hub.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from hub.keys import SETTINGS
from hub.openapi import Response, endpoint, read_json
from hub.routes.auth import signed_in
from hub.routes.auth_schemas import (
    AuditList,
    AuditView,
    ChatGrantList,
    ChatGrantView,
    ChatIdentityView,
    CreateChatGrant,
    CreateGrant,
    CreateToken,
    GrantView,
    Me,
    NewToken,
    TokenList,
    TokenView,
)
from hub.security.keys import KeyKind, new_key
from hub.security.roles import ChatGrantRule, Permissions, Role, SubjectKind, chat_subject_problem
from hub.services.admin import chat_tenant
from hub.sso import chat_grants
from hub.sso.audit import Action, record
from hub.sso.guard import permissions
from hub.sso.people import person_permissions

SESSION = ()  # the session cookie (gs_session) from /auth/login
NOT_SIGNED_IN = Response("not signed in")
AUDIT_LIMIT_MAX = 500


async def _me(user: User, perms: Permissions) -> Me:
    identities = await ChatIdentity.filter(user_id=user.id).order_by("created_at")
    return Me(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=sorted(r.value for r in perms.roles),
        tool_patterns=list(perms.tool_patterns),
        chat_identities=[
            ChatIdentityView(platform=i.platform.value, team_id=i.team_id, platform_user_id=i.platform_user_id)
            for i in identities
        ],
    )


@endpoint(
    "Who is signed in, with roles and linked chat identities",
    tags=("people",),
    security=SESSION,
    responses={200: Response("the signed-in person", Me), 401: NOT_SIGNED_IN},
)
async def me(request: web.Request) -> web.Response:
    user, _ = await signed_in(request)
    perms = await person_permissions(user.id, request.app[SETTINGS])
    return web.json_response(text=(await _me(user, perms)).model_dump_json())


def _token_view(token: ApiToken) -> TokenView:
    return TokenView.model_validate(token)


@endpoint(
    "Create an API token acting with your roles, narrowed to its scopes (shown once)",
    tags=("tokens",),
    security=SESSION,
    request=CreateToken,
    responses={201: Response("the token, shown once", NewToken), 401: NOT_SIGNED_IN},
)
async def create_token(request: web.Request) -> web.Response:
    user, session = await signed_in(request)
    body = await read_json(request, CreateToken)
    key = new_key(KeyKind.API_TOKEN)
    expires = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    token = await ApiToken.create(
        tenant_id=UUID(session.tenant_id),
        user=user,
        name=body.name,
        prefix=key.prefix,
        token_hash=key.key_hash,
        scopes=sorted(set(body.scopes)),
        expires_at=expires,
    )
    await record(
        Action.TOKEN_CREATED,
        actor=f"user:{user.id}",
        source="api",
        target=f"token:{token.id}",
        tenant_id=UUID(session.tenant_id),
        data={"name": body.name, "scopes": token.scopes, "expires_at": expires.isoformat() if expires else None},
    )
    view = NewToken(**_token_view(token).model_dump(), token=key.secret_key)
    return web.json_response(text=view.model_dump_json(), status=201)


@endpoint(
    "Your API tokens (never their secrets)",
    tags=("tokens",),
    security=SESSION,
    responses={200: Response("tokens", TokenList), 401: NOT_SIGNED_IN},
)
async def list_tokens(request: web.Request) -> web.Response:
    user, _ = await signed_in(request)
    tokens = await ApiToken.filter(user_id=user.id).order_by("-created_at")
    return web.json_response(text=TokenList(tokens=[_token_view(t) for t in tokens]).model_dump_json())


@endpoint(
    "Revoke one of your API tokens",
    tags=("tokens",),
    security=SESSION,
    responses={
        200: Response("the revoked token", TokenView),
        401: NOT_SIGNED_IN,
        404: Response("no such token of yours"),
    },
)
async def revoke_token(request: web.Request) -> web.Response:
    user, session = await signed_in(request)
    try:
        token_id = UUID(request.match_info["token_id"])
    except ValueError:
        raise NotFound("token not found") from None
    token = await ApiToken.get_or_none(id=token_id, user_id=user.id)
    if token is None:
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        await token.save(update_fields=["revoked_at"])
        request.app[AUTH_CACHE].clear()  # the cache would otherwise honour it for a few more seconds
        await record(
            Action.TOKEN_REVOKED,
            actor=f"user:{user.id}",
            source="api",
            target=f"token:{token.id}",
            tenant_id=UUID(session.tenant_id),
            data={"name": token.name},
        )
    return web.json_response(text=_token_view(token).model_dump_json())


async def _admin(request: web.Request) -> tuple[str, UUID]:
    """The acting admin (an API token when one is presented, else the signed-in person) as
    (actor, tenant), or 401/403."""
    if "Authorization" not in request.headers:
        user, session = await signed_in(request)
        perms = await person_permissions(user.id, request.app[SETTINGS])
        actor, tenant_id = f"user:{user.id}", UUID(session.tenant_id)
    else:
        caller = await authenticate_caller(request)
        perms = await permissions(request, caller)
        actor, tenant_id = f"token:{caller.token_id}", caller.tenant_id
    if not perms.is_admin:
        raise Forbidden("this needs the admin role")
    return actor, tenant_id


@endpoint(
    "The audit log, newest first (admins)",
    tags=("audit",),
    security=("apiToken",),
    query={"action": "filter by action", "limit": f"at most {AUDIT_LIMIT_MAX} (default 100)"},
    responses={200: Response("entries", AuditList), 401: NOT_SIGNED_IN, 403: Response("not an admin")},
)
async def audit_log(request: web.Request) -> web.Response:
    _, tenant_id = await _admin(request)
    query = AuditEntry.filter(Q(tenant_id=tenant_id) | Q(tenant_id=None))
    if action := request.query.get("action"):
        query = query.filter(action=action)
    try:
        limit = min(AUDIT_LIMIT_MAX, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise UnprocessableEntity("limit must be an integer") from None
    entries = await query.order_by("-id").limit(limit)
    views = [
        AuditView(
            id=e.id, at=e.created_at, actor=e.actor, action=e.action, source=e.source, target=e.target, data=e.data
        )
        for e in entries
    ]
    return web.json_response(text=AuditList(entries=views).model_dump_json())


def _grant_view(grant: RoleGrant) -> GrantView:
    return GrantView(
        id=grant.id,
        user_id=grant.user_id,  # type: ignore[attr-defined]
        role=grant.role,
        tools=list(grant.tools),
        granted_by=grant.granted_by,
        created_at=grant.created_at,
    )


@endpoint(
    "Grant a role to a person (admins); granting it again replaces its tool patterns",
    tags=("people",),
    security=("apiToken",),
    request=CreateGrant,
    responses={200: Response("the grant", GrantView), 403: Response("not an admin"), 404: Response("no such person")},
)
async def grant_role(request: web.Request) -> web.Response:
    actor, tenant_id = await _admin(request)
    body = await read_json(request, CreateGrant)
    if not await User.filter(id=body.user_id, tenant_id=tenant_id).exists():
        raise NotFound(f"person {body.user_id} not found")
    grant, _ = await RoleGrant.update_or_create(
        user_id=body.user_id, role=body.role, defaults={"tools": body.tools, "granted_by": actor}
    )
    await record(
        Action.ROLE_GRANTED,
        actor=actor,
        source="api",
        target=f"user:{body.user_id}",
        tenant_id=tenant_id,
        data={"role": body.role, "tools": body.tools},
    )
    return web.json_response(text=_grant_view(grant).model_dump_json())


@endpoint(
    "Take a role grant back (admins)",
    tags=("people",),
    security=("apiToken",),
    responses={
        200: Response("the removed grant", GrantView),
        403: Response("not an admin"),
        404: Response("no such grant"),
    },
)
async def revoke_grant(request: web.Request) -> web.Response:
    actor, tenant_id = await _admin(request)
    try:
        grant = await RoleGrant.get_or_none(id=UUID(request.match_info["grant_id"]), user__tenant_id=tenant_id)
    except ValueError:
        grant = None
    if grant is None:
        raise NotFound("grant not found")
    await grant.delete()
    await record(
        Action.ROLE_REVOKED,
        actor=actor,
        source="api",
        target=f"user:{grant.user_id}",  # type: ignore[attr-defined]
        tenant_id=tenant_id,
        data={"role": grant.role, "tools": grant.tools},
    )
    return web.json_response(text=_grant_view(grant).model_dump_json())


def _chat_grant_view(grant: ChatGrant) -> str:
    return ChatGrantView.model_validate(grant).model_dump_json()


@endpoint(
    "Chat grants: roles held by Slack and Discord users, Slack user groups and Discord roles (admins)",
    tags=("people",),
    security=("apiToken",),
    query={"platform": "slack or discord"},
    responses={200: Response("chat grants", ChatGrantList), 401: NOT_SIGNED_IN, 403: Response("not an admin")},
)
async def list_chat_grants(request: web.Request) -> web.Response:
    await _admin(request)
    query = ChatGrant.all()
    if platform := request.query.get("platform"):
        query = query.filter(platform=platform)
    grants = await query.order_by("platform", "team_id", "subject_kind", "subject_id", "source")
    views = [ChatGrantView.model_validate(g) for g in grants]
    return web.json_response(text=ChatGrantList(grants=views).model_dump_json())


async def _own_team(platform: str, team_id: str, tenant_id: UUID) -> None:
    """An admin grants approval only in a workspace or guild of their own tenant: a grant names its
    team (every team at once is for the operator's SLACK_APPROVERS / DISCORD_APPROVERS)."""
    if not team_id:
        raise UnprocessableEntity("name the Slack team or Discord guild (team_id) the grant is for")
    if await chat_tenant(platform, team_id) != tenant_id:
        raise Forbidden(f"{platform} team {team_id} belongs to another tenant")


@endpoint(
    "Grant the approver role to a chat user, a Slack user group or a Discord role (admins)",
    tags=("people",),
    security=("apiToken",),
    request=CreateChatGrant,
    responses={201: Response("the new grant", ChatGrantView), 200: Response("it was already granted", ChatGrantView),
               403: Response("not an admin, or the team belongs to another tenant"),
               422: Response("no team, or a subject id that does not fit the platform and kind")},
)  # fmt: skip
async def add_chat_grant(request: web.Request) -> web.Response:
    actor, tenant_id = await _admin(request)
    body = await read_json(request, CreateChatGrant)
    if (problem := chat_subject_problem(body.platform, body.team_id, body.subject_kind, body.subject_id)) is not None:
        raise UnprocessableEntity(problem)
    await _own_team(body.platform, body.team_id, tenant_id)
    rule = ChatGrantRule(body.platform, body.team_id, SubjectKind(body.subject_kind), body.subject_id, Role(body.role))
    grant, created = await chat_grants.add_grant(rule, actor=actor, tenant_id=tenant_id)
    return web.json_response(text=_chat_grant_view(grant), status=201 if created else 200)


@endpoint(
    "Take an admin's chat grant back (admins); configured ones follow SLACK_APPROVERS / DISCORD_APPROVERS",
    tags=("people",),
    security=("apiToken",),
    responses={200: Response("the removed grant", ChatGrantView), 403: Response("not an admin"),
               404: Response("no such chat grant"), 409: Response("a configured grant: change the setting")},
)  # fmt: skip
async def remove_chat_grant(request: web.Request) -> web.Response:
    actor, tenant_id = await _admin(request)
    try:
        grant = await ChatGrant.get_or_none(id=UUID(request.match_info["grant_id"]))
    except ValueError:
        grant = None
    if grant is None:
        raise NotFound("chat grant not found")
    if grant.source == chat_grants.CONFIG:
        raise Conflict("this grant comes from SLACK_APPROVERS or DISCORD_APPROVERS: change the setting and restart")
    await _own_team(grant.platform, grant.team_id, tenant_id)
    await chat_grants.remove_grant(grant, actor=actor, tenant_id=tenant_id)
    return web.json_response(text=_chat_grant_view(grant))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/me", me)
    app.router.add_post("/api/v1/tokens", create_token)
    app.router.add_get("/api/v1/tokens", list_tokens)
    app.router.add_delete("/api/v1/tokens/{token_id}", revoke_token)
    app.router.add_get("/api/v1/audit", audit_log)
    app.router.add_post("/api/v1/grants", grant_role)
    app.router.add_delete("/api/v1/grants/{grant_id}", revoke_grant)
    app.router.add_get("/api/v1/chat-grants", list_chat_grants)
    app.router.add_post("/api/v1/chat-grants", add_chat_grant)
    app.router.add_delete("/api/v1/chat-grants/{grant_id}", remove_chat_grant)
