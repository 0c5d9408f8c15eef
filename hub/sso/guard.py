"""What an authenticated API caller may do (roles enforced on the REST doors)."""

from __future__ import annotations

from aiohttp import web

from hub.auth import Caller, authenticate_caller
from hub.errors import Forbidden
from hub.keys import SETTINGS
from hub.security.roles import Permissions
from hub.sso.people import caller_permissions


async def permissions(request: web.Request, caller: Caller) -> Permissions:
    return await caller_permissions(caller.user_id, caller.scopes, request.app[SETTINGS])


async def require_run(request: web.Request, caller: Caller, tool: str) -> None:
    if not (await permissions(request, caller)).may_run(tool):
        raise Forbidden(f"you may not run {tool}: it needs the operator role with a pattern matching it")


async def require_approver(request: web.Request, caller: Caller) -> None:
    if not (await permissions(request, caller)).may_approve:
        raise Forbidden("deciding approvals needs the approver role")


async def require_reader(request: web.Request, caller: Caller) -> None:
    if not (await permissions(request, caller)).may_read:
        raise Forbidden("reading needs a role (viewer or more)")


async def require_admin(request: web.Request, caller: Caller) -> None:
    if not (await permissions(request, caller)).is_admin:
        raise Forbidden("this needs the admin role")


async def authenticate_admin(request: web.Request) -> Caller:
    """The caller, who must be an admin (webhook endpoints and subscriptions create jobs and send events out)."""
    caller = await authenticate_caller(request)
    await require_admin(request, caller)
    return caller
