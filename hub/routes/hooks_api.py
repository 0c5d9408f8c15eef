"""Managing inbound endpoints and outbound subscriptions (API token)."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from hub.auth import Caller
from hub.db.webhook_models import HookDelivery, HookEndpoint, HookScheme, OutboundDelivery, Subscription
from hub.errors import Conflict, NotFound, UnprocessableEntity
from hub.keys import JOBS, SETTINGS
from hub.openapi import Response, endpoint, read_json
from hub.routes.hook_schemas import (
    AttemptView,
    CreateHook,
    CreateSubscription,
    HookDeliveryList,
    HookDeliveryView,
    HookList,
    HookView,
    OutboundList,
    OutboundView,
    SubscriptionList,
    SubscriptionView,
    UpdateHook,
    UpdateSubscription,
)
from hub.routes.hooks import HOOK_DOOR
from hub.security.ssrf import BlockedTarget, TargetPolicy, check_host, parse_networks
from hub.sso.guard import authenticate_admin
from hub.webhooks import manage

API = ("apiToken",)
HOOK_404 = Response("no such endpoint in your tenant")
SUB_404 = Response("no such subscription in your tenant")
INVALID = Response("invalid configuration (the message says what to change)")
LIST_MAX = 200


def hook_view(row: HookEndpoint, secret: str | None = None) -> HookView:
    return HookView(
        id=row.id, name=row.name, url=f"/hooks/{row.public_id}", scheme=row.scheme.value,
        options=row.scheme_options, rules=row.rules, channel=row.channel, rate_limit_per_min=row.rate_limit_per_min,
        enabled=row.enabled, created_at=row.created_at, secret=secret,
    )  # fmt: skip


def delivery_view(row: HookDelivery, *, full: bool = False) -> HookDeliveryView:
    return HookDeliveryView(
        id=row.id, delivery_id=row.delivery_id, status=row.status.value, matched=row.matched, job_ids=row.job_ids,
        error=row.error, replay_of=row.replay_of, received_at=row.received_at, processed_at=row.processed_at,
        headers=row.headers if full else None, body=bytes(row.body).decode(errors="replace") if full else None,
    )  # fmt: skip


def subscription_view(row: Subscription, secret: str | None = None) -> SubscriptionView:
    return SubscriptionView(
        id=row.id, url=row.url, events=row.event_types, description=row.description, enabled=row.enabled,
        disabled_reason=row.disabled_reason, failing_since=row.failing_since, created_at=row.created_at, secret=secret,
    )  # fmt: skip


def policy_of(request: web.Request) -> TargetPolicy:
    return TargetPolicy(parse_networks(",".join(request.app[SETTINGS].webhook_allow_networks)))


def _json(model: HookView | HookList | HookDeliveryView | HookDeliveryList | SubscriptionView | SubscriptionList
          | OutboundList, status: int = 200) -> web.Response:  # fmt: skip
    return web.json_response(text=model.model_dump_json(), status=status)


async def _hook(request: web.Request, caller: Caller) -> HookEndpoint:
    row = await manage.find_endpoint(caller.tenant_id, request.match_info["hook_id"])
    if row is None:
        raise NotFound(f"endpoint {request.match_info['hook_id']} not found")
    return row


async def _subscription(request: web.Request, caller: Caller) -> Subscription:
    try:
        sub_id = UUID(request.match_info["sub_id"])
    except ValueError:
        raise NotFound("subscription not found") from None
    row = await Subscription.get_or_none(id=sub_id, tenant_id=caller.tenant_id)
    if row is None:
        raise NotFound(f"subscription {sub_id} not found")
    return row


def _int(raw: str, what: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"{what} {raw} not found")
    return int(raw)


@endpoint(
    "Create an inbound webhook endpoint (a generated secret is shown once; one you give is never echoed)",
    tags=("webhooks",), security=API, request=CreateHook,
    responses={201: Response("created", HookView), 401: Response("missing or invalid API token"), 422: INVALID},
)  # fmt: skip
async def create_hook(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    body = await read_json(request, CreateHook)
    new = manage.NewEndpoint(
        name=body.name, scheme=HookScheme(body.scheme), secret=body.secret,
        rules=[rule.model_dump(by_alias=True) for rule in body.rules], channel=body.channel,
        rate_limit_per_min=body.rate_limit_per_min, options=body.options,
    )  # fmt: skip
    box = request.app[HOOK_DOOR].endpoints.box
    try:
        row, generated = await manage.create_endpoint(
            caller.tenant_id, box, new, request.app[SETTINGS].webhook_rate_limit_per_min
        )
    except manage.HookConfigError as exc:
        raise UnprocessableEntity(str(exc)) from None
    return _json(hook_view(row, generated), 201)


@endpoint(
    "Inbound webhook endpoints", tags=("webhooks",), security=API, responses={200: Response("endpoints", HookList)}
)
async def list_hooks(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    rows = await HookEndpoint.filter(tenant_id=caller.tenant_id).order_by("name")
    return _json(HookList(hooks=[hook_view(row) for row in rows]))


@endpoint(
    "An endpoint (by id, public id or name)", tags=("webhooks",), security=API,
    responses={200: Response("the endpoint", HookView), 404: HOOK_404},
)  # fmt: skip
async def get_hook(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    return _json(hook_view(await _hook(request, caller)))


@endpoint(
    "Change an endpoint's rules, channel, rate limit, secret or enabled flag", tags=("webhooks",), security=API,
    request=UpdateHook, responses={200: Response("the endpoint", HookView), 404: HOOK_404, 422: INVALID},
)  # fmt: skip
async def update_hook(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    row = await _hook(request, caller)
    body = await read_json(request, UpdateHook)
    try:
        if body.rules is not None:
            row.rules = manage.check_rules([rule.model_dump(by_alias=True) for rule in body.rules],
                                           await request.app[JOBS].tool_catalog(caller.tenant_id))  # fmt: skip
        if body.secret is not None:
            manage.check_secret(row.scheme, body.secret)
            row.secret_encrypted = request.app[HOOK_DOOR].endpoints.box.encrypt(body.secret)
    except manage.HookConfigError as exc:
        raise UnprocessableEntity(str(exc)) from None
    if body.channel is not None:
        row.channel = body.channel.thread_ref()
    if body.rate_limit_per_min is not None:
        row.rate_limit_per_min = body.rate_limit_per_min
    if body.enabled is not None:
        row.enabled = body.enabled
    await row.save()
    return _json(hook_view(row))


@endpoint(
    "Delete an endpoint and its stored deliveries", tags=("webhooks",), security=API,
    responses={200: Response("deleted", HookView), 404: HOOK_404},
)  # fmt: skip
async def delete_hook(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    row = await _hook(request, caller)
    await row.delete()
    return _json(hook_view(row))


@endpoint(
    "An endpoint's stored deliveries, newest first", tags=("webhooks",), security=API,
    query={"status": "received, processed, ignored or failed", "limit": "at most 200 (default 50)"},
    responses={200: Response("deliveries", HookDeliveryList), 404: HOOK_404},
)  # fmt: skip
async def list_hook_deliveries(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    row = await _hook(request, caller)
    query = HookDelivery.filter(endpoint_id=row.id)
    if status := request.query.get("status"):
        query = query.filter(status=status)
    limit = min(LIST_MAX, _int(request.query.get("limit", "50"), "limit") or 1)
    rows = await query.order_by("-id").limit(limit)
    return _json(HookDeliveryList(deliveries=[delivery_view(d) for d in rows]))


async def _delivery(request: web.Request, caller: Caller) -> HookDelivery:
    hook = await _hook(request, caller)
    row = await HookDelivery.get_or_none(id=_int(request.match_info["delivery"], "delivery"), endpoint_id=hook.id)
    if row is None:
        raise NotFound(f"delivery {request.match_info['delivery']} not found")
    return row


@endpoint(
    "A stored delivery with its raw headers and body", tags=("webhooks",), security=API,
    responses={200: Response("the delivery", HookDeliveryView), 404: Response("no such delivery")},
)  # fmt: skip
async def get_hook_delivery(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    return _json(delivery_view(await _delivery(request, caller), full=True))


@endpoint(
    "Replay a stored delivery: a new delivery with the same body and headers, through the current rules",
    tags=("webhooks",), security=API,
    responses={202: Response("the new delivery, queued", HookDeliveryView), 404: Response("no such delivery")},
)  # fmt: skip
async def replay_hook_delivery(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    copy = await manage.replay(await _delivery(request, caller))
    request.app[HOOK_DOOR].waker.wake()
    return _json(delivery_view(copy), 202)


@endpoint(
    "Subscribe a URL to events (signed per Standard Webhooks; a generated secret is shown once, one you give is not)",
    tags=("webhooks",), security=API, request=CreateSubscription,
    responses={201: Response("created", SubscriptionView), 422: INVALID},
)  # fmt: skip
async def create_subscription(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    body = await read_json(request, CreateSubscription)
    box = request.app[HOOK_DOOR].endpoints.box
    try:
        row, generated = await manage.create_subscription(
            caller.tenant_id, box, policy_of(request), body.url, body.events, body.secret, body.description
        )
    except manage.HookConfigError as exc:
        raise UnprocessableEntity(str(exc)) from None
    return _json(subscription_view(row, generated), 201)


@endpoint(
    "Outbound subscriptions", tags=("webhooks",), security=API,
    responses={200: Response("subscriptions", SubscriptionList)},
)  # fmt: skip
async def list_subscriptions(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    rows = await Subscription.filter(tenant_id=caller.tenant_id).order_by("created_at")
    return _json(SubscriptionList(subscriptions=[subscription_view(row) for row in rows]))


@endpoint(
    "A subscription", tags=("webhooks",), security=API,
    responses={200: Response("the subscription", SubscriptionView), 404: SUB_404},
)  # fmt: skip
async def get_subscription(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    return _json(subscription_view(await _subscription(request, caller)))


@endpoint(
    "Change a subscription's URL or events, or enable it again", tags=("webhooks",), security=API,
    request=UpdateSubscription,
    responses={200: Response("the subscription", SubscriptionView), 404: SUB_404, 422: INVALID},
)  # fmt: skip
async def update_subscription(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    row = await _subscription(request, caller)
    body = await read_json(request, UpdateSubscription)
    try:
        if body.url is not None:
            await check_host(policy_of(request), body.url)
            row.url = body.url
        if body.events is not None:
            row.event_types = manage.check_events(body.events)
    except BlockedTarget as exc:
        raise UnprocessableEntity(f"target refused: {exc.reason}") from None
    except manage.HookConfigError as exc:
        raise UnprocessableEntity(str(exc)) from None
    if body.enabled is not None:
        row.enabled = body.enabled
        if body.enabled:
            row.disabled_reason, row.failing_since = None, None  # type: ignore[assignment]
    await row.save()
    return _json(subscription_view(row))


@endpoint(
    "Delete a subscription", tags=("webhooks",), security=API,
    responses={200: Response("deleted", SubscriptionView), 404: SUB_404},
)  # fmt: skip
async def delete_subscription(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    row = await _subscription(request, caller)
    await row.delete()
    return _json(subscription_view(row))


async def outbound_view(row: OutboundDelivery) -> OutboundView:
    attempts = await row.attempt_log.all().order_by("number")  # type: ignore[attr-defined]
    return OutboundView(
        id=row.id, msg_id=row.msg_id, event_type=row.event_type, status=row.status.value, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_status_code=row.last_status_code, last_error=row.last_error,
        created_at=row.created_at, delivered_at=row.delivered_at,
        log=[AttemptView(number=a.number, status_code=a.status_code, response_excerpt=a.response_excerpt,
                         error=a.error, duration_ms=a.duration_ms, at=a.at) for a in attempts],
    )  # fmt: skip


@endpoint(
    "The delivery log of a subscription, newest first: status codes and response excerpts of every attempt",
    tags=("webhooks",), security=API, query={"limit": "at most 200 (default 50)"},
    responses={200: Response("deliveries", OutboundList), 404: SUB_404},
)  # fmt: skip
async def list_outbound(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    sub = await _subscription(request, caller)
    limit = min(LIST_MAX, _int(request.query.get("limit", "50"), "limit") or 1)
    rows = await OutboundDelivery.filter(subscription_id=sub.id).order_by("-id").limit(limit)
    return _json(OutboundList(deliveries=[await outbound_view(row) for row in rows]))


@endpoint(
    "Retry an outbound delivery now (a manual retry)", tags=("webhooks",), security=API,
    responses={202: Response("queued for another attempt", OutboundList), 404: Response("no such delivery"),
               409: Response("the subscription is disabled")},
)  # fmt: skip
async def retry_outbound(request: web.Request) -> web.Response:
    caller = await authenticate_admin(request)
    sub = await _subscription(request, caller)
    row = await OutboundDelivery.get_or_none(
        id=_int(request.match_info["delivery"], "delivery"), subscription_id=sub.id
    )
    if row is None:
        raise NotFound(f"delivery {request.match_info['delivery']} not found")
    try:
        row = await manage.retry_outbound(row)
    except manage.HookConfigError as exc:
        raise Conflict(str(exc)) from None
    return _json(OutboundList(deliveries=[await outbound_view(row)]), 202)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/v1/hooks", create_hook)
    router.add_get("/api/v1/hooks", list_hooks)
    router.add_get("/api/v1/hooks/{hook_id}", get_hook)
    router.add_patch("/api/v1/hooks/{hook_id}", update_hook)
    router.add_delete("/api/v1/hooks/{hook_id}", delete_hook)
    router.add_get("/api/v1/hooks/{hook_id}/deliveries", list_hook_deliveries)
    router.add_get("/api/v1/hooks/{hook_id}/deliveries/{delivery}", get_hook_delivery)
    router.add_post("/api/v1/hooks/{hook_id}/deliveries/{delivery}/replay", replay_hook_delivery)
    router.add_post("/api/v1/subscriptions", create_subscription)
    router.add_get("/api/v1/subscriptions", list_subscriptions)
    router.add_get("/api/v1/subscriptions/{sub_id}", get_subscription)
    router.add_patch("/api/v1/subscriptions/{sub_id}", update_subscription)
    router.add_delete("/api/v1/subscriptions/{sub_id}", delete_subscription)
    router.add_get("/api/v1/subscriptions/{sub_id}/deliveries", list_outbound)
    router.add_post("/api/v1/subscriptions/{sub_id}/deliveries/{delivery}/retry", retry_outbound)
