"""The sign-in doors: ``/auth/login`` → the OpenID provider → ``/auth/callback`` → a session;
``/auth/logout`` (and on to the provider's logout when it has one, back to ``/auth/signed-out``);
``/auth/link/{code}`` binds a chat identity to whoever signs in with it."""

from __future__ import annotations

import hmac
import html
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import web

from hub.db.models import User
from hub.errors import ApiError, BadRequest, NotFound, ServiceUnavailable, Unauthorized
from hub.keys import REDIS, SETTINGS
from hub.openapi import Response, endpoint
from hub.routes.auth_schemas import SignedOut
from hub.security.oidc import IdTokenError
from hub.services.admin import ensure_tenant
from hub.settings import Settings
from hub.sso import people
from hub.sso.audit import Action, record
from hub.sso.provider import Identity, OidcProvider, ProviderError
from hub.sso.sessions import LOGIN_TTL_S, PendingLogin, Session, SessionStore, new_pending
from hub.webhooks.secrets import dev_secret_key

log = logging.getLogger(__name__)
COOKIE = "gs_session"
LOGIN_COOKIE = "gs_login"
AFTER_LOGIN = "/api/v1/me"
OIDC = web.AppKey("oidc", OidcProvider)
SESSIONS = web.AppKey("sessions", SessionStore)
REDIRECT = Response("redirect (Location header)", media_type="text/plain")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _provider(request: web.Request) -> OidcProvider:
    provider = request.app.get(OIDC)
    if provider is None:
        raise ServiceUnavailable("sign-in is not configured (OIDC_ISSUER, OIDC_CLIENT_ID)")
    return provider


async def _start(request: web.Request, link_code: str | None) -> web.Response:
    provider = _provider(request)
    state, pending = new_pending(link_code)
    await request.app[SESSIONS].save_pending(state, pending)
    try:
        url = await provider.authorization_url(state, pending)
    except ProviderError as exc:
        raise ServiceUnavailable(str(exc)) from None
    response = web.HTTPFound(url, headers={"Cache-Control": "no-store"})
    # Binds the sign-in to this browser: a callback URL replayed in another browser (login CSRF) is refused.
    response.set_cookie(
        LOGIN_COOKIE, state, max_age=LOGIN_TTL_S, httponly=True, samesite="Lax", path="/auth/",
        secure=_secure(request.app[SETTINGS]),
    )  # fmt: skip
    raise response


@endpoint(
    "Sign in: redirect to the OpenID provider",
    tags=("auth",),
    responses={302: REDIRECT, 503: Response("sign-in is not configured or the provider is unreachable")},
)
async def login(request: web.Request) -> web.Response:
    return await _start(request, None)


@endpoint(
    "Link a chat identity: sign in with the one-time code from /swarm login",
    tags=("auth",),
    responses={302: REDIRECT, 404: Response("unknown, used or expired link")},
)
async def link(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if not await people.link_code_valid(code):
        raise NotFound("this sign-in link is unknown, used or expired: ask /swarm login for a new one")
    return await _start(request, code)


async def _failed(request: web.Request, reason: str, error: ApiError) -> ApiError:
    await record(
        Action.LOGIN_FAILED, actor="anonymous", source="sso", data={"reason": reason, "remote": request.remote or ""}
    )
    log.warning("sign-in refused: %s", reason)
    return error


async def _authenticate(request: web.Request, provider: OidcProvider) -> tuple[PendingLogin, Identity]:
    query = request.query
    if "error" in query:
        raise await _failed(request, f"provider error: {query['error'][:100]}", Unauthorized("sign-in was refused"))
    state = query.get("state", "")
    if not hmac.compare_digest(state.encode(), request.cookies.get(LOGIN_COOKIE, "").encode()):
        raise await _failed(request, "state not from this browser", BadRequest("this sign-in was not started here"))
    pending = await request.app[SESSIONS].take_pending(state)
    if pending is None:
        raise await _failed(request, "unknown or used state", BadRequest("this sign-in is unknown or already used"))
    try:
        issuer = (await provider.metadata()).issuer
    except ProviderError as exc:
        raise ServiceUnavailable(str(exc)) from None
    if "iss" in query and query["iss"] != issuer:  # RFC 9207: mix-up attack
        raise await _failed(request, "wrong iss in the redirect", Unauthorized("sign-in refused: wrong issuer"))
    if not query.get("code"):
        raise await _failed(request, "no code", BadRequest("the provider sent no code"))
    try:
        identity = await provider.finish(query["code"], pending)
    except (IdTokenError, ProviderError) as exc:
        raise await _failed(request, str(exc), Unauthorized(f"sign-in refused: {exc}")) from None
    return pending, identity


@endpoint(
    "The provider's redirect back: checks everything, then starts a session",
    tags=("auth",),
    query={"code": "authorization code", "state": "the login's state", "iss": "RFC 9207 issuer"},
    responses={303: REDIRECT, 400: Response("unknown or used state"), 401: Response("refused sign-in")},
)
async def callback(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    provider = _provider(request)
    pending, identity = await _authenticate(request, provider)
    tenant = await ensure_tenant()
    groups = people.groups_of(identity.claims, settings.oidc_groups_claim)
    user = await people.sign_in(tenant.id, identity.issuer, identity.claims, groups)
    actor = f"user:{user.id}"
    await record(
        Action.LOGIN,
        actor=actor,
        source="sso",
        tenant_id=tenant.id,
        data={"subject": identity.claims["sub"], "groups": groups},
    )
    session = Session(user_id=str(user.id), tenant_id=str(tenant.id), id_token=identity.id_token)
    cookie = await request.app[SESSIONS].create(session)
    # A link is bound only once the signed-in person confirms, on a page naming the chat account: a link
    # someone else asked for and sent to you binds nothing by itself.
    after = f"/auth/link/{pending.link_code}/confirm" if pending.link_code is not None else AFTER_LOGIN
    response = web.HTTPSeeOther(after, headers={"Cache-Control": "no-store"})
    response.del_cookie(LOGIN_COOKIE, path="/auth/")
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(settings.session_ttl_s),
        httponly=True,
        samesite="Lax",
        path="/",
        secure=_secure(settings),
    )
    raise response


async def _provider_logout(request: web.Request, session: Session | None) -> str | None:
    """The provider's logout URL for this session's sign-in, when the provider publishes one."""
    provider = request.app.get(OIDC)
    if provider is None or session is None or not session.id_token:
        return None
    try:
        return await provider.end_session_url(session.id_token)
    except ProviderError as exc:  # our session is over anyway; the provider's may outlive it
        log.warning("no logout at the provider: %s", exc)
        return None


@endpoint(
    "Sign out: end the session, then at the provider too when it publishes an end_session_endpoint",
    tags=("auth",),
    responses={200: Response("signed out (the provider has no logout endpoint)", SignedOut),
               303: Response("signed out here; on to the provider's logout (Location header)",
                             media_type="text/plain")},
)  # fmt: skip
async def logout(request: web.Request) -> web.Response:
    session = await request.app[SESSIONS].get(request.cookies.get(COOKIE))
    await request.app[SESSIONS].delete(request.cookies.get(COOKIE))
    if session is not None:
        await record(Action.LOGOUT, actor=f"user:{session.user_id}", source="sso")
    at_provider = await _provider_logout(request, session)
    if at_provider is not None:
        response = web.Response(status=303, headers={"Location": at_provider, "Cache-Control": "no-store"})
    else:
        response = web.json_response(SignedOut(signed_out=True).model_dump())
    response.del_cookie(COOKIE, path="/")
    return response


SIGNED_OUT_PAGE = """<!doctype html><meta charset="utf-8"><title>Signed out</title>
<h1>You are signed out.</h1><p><a href="/auth/login">Sign in again</a></p>"""


@endpoint(
    "Where the provider's logout sends the browser back (post_logout_redirect_uri)",
    tags=("auth",),
    responses={200: Response("a signed-out page", media_type="text/html")},
)
async def signed_out(request: web.Request) -> web.Response:
    return web.Response(text=SIGNED_OUT_PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})


CONFIRM_PAGE = """<!doctype html><meta charset="utf-8"><title>Link a chat account</title>
<h1>Link {account} to {person}?</h1>
<p>That chat account will act with <b>your</b> roles. Confirm only if <b>you</b> typed <code>/swarm login</code>
just now and opened this link yourself. If someone sent you this link, close this page.</p>
<form method="post"><button type="submit">Link {account}</button></form>"""
LINKED_PAGE = '<!doctype html><meta charset="utf-8"><title>Linked</title><h1>{account} is linked to you.</h1>'


def _account(ref: people.ChatRef) -> str:
    team = f" in {ref.team_id}" if ref.team_id else ""
    return html.escape(f"{ref.platform} account {ref.platform_user_id}{team}")


@endpoint(
    "Link a chat identity, step 2: a page naming the chat account, to confirm",
    tags=("auth",),
    responses={200: Response("the confirmation page", media_type="text/html"), 401: Response("not signed in"),
               404: Response("unknown, used or expired link")},
)  # fmt: skip
async def confirm_link_page(request: web.Request) -> web.Response:
    user, _ = await signed_in(request)
    ref = await people.link_code_target(request.match_info["code"])
    if ref is None:
        raise NotFound("this sign-in link is unknown, used or expired: ask /swarm login for a new one")
    page = CONFIRM_PAGE.format(account=_account(ref), person=html.escape(user.display_name))
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


@endpoint(
    "Link a chat identity, step 3: the signed-in person confirms (same-site POST with the session)",
    tags=("auth",),
    responses={200: Response("linked", media_type="text/html"), 401: Response("not signed in"),
               404: Response("unknown, used or expired link")},
)  # fmt: skip
async def confirm_link(request: web.Request) -> web.Response:
    user, session = await signed_in(request)  # the SameSite=Lax cookie does not come with a cross-site POST
    ref = await people.redeem_link_code(request.match_info["code"], user)
    if ref is None:
        raise NotFound("this sign-in link is unknown, used or expired: ask /swarm login for a new one")
    await record(
        Action.IDENTITY_LINKED, actor=f"user:{user.id}", source="sso", tenant_id=UUID(session.tenant_id),
        target=f"{ref.platform}:{ref.team_id}:{ref.platform_user_id}",
    )  # fmt: skip
    return web.Response(text=LINKED_PAGE.format(account=_account(ref)), content_type="text/html")


def _secure(settings: Settings) -> bool:
    parts = urlsplit(settings.hub_url)
    return not (parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS)


async def signed_in(request: web.Request) -> tuple[User, Session]:
    """The person whose session cookie came with the request, or 401."""
    session = await request.app[SESSIONS].get(request.cookies.get(COOKIE))
    user = await User.get_or_none(id=session.user_id) if session else None
    if session is None or user is None:
        raise Unauthorized("not signed in: start at /auth/login")
    return user, session


async def _state(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    key = settings.secret_key.get() if settings.secret_key else dev_secret_key(settings.data_dir)
    app[SESSIONS] = SessionStore(app[REDIS], key, settings.session_ttl_s)
    yield


def add_routes(app: web.Application, settings: Settings) -> None:
    if settings.oidc_issuer and settings.oidc_client_id:
        app[OIDC] = OidcProvider(settings)
    app.cleanup_ctx.append(_state)
    app.router.add_get("/auth/login", login)
    app.router.add_get("/auth/callback", callback)
    app.router.add_post("/auth/logout", logout)
    app.router.add_get("/auth/signed-out", signed_out)
    app.router.add_get("/auth/link/{code}", link)
    app.router.add_get("/auth/link/{code}/confirm", confirm_link_page)
    app.router.add_post("/auth/link/{code}/confirm", confirm_link)
