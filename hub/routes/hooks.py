"""The inbound webhook door, ``POST /hooks/{endpoint}``: verify, bound, record, answer 202.

Refusals change nothing: unsigned, tampered or stale → 401; over the size limit → 413; not JSON →
415 or 400 with the parser's reason; over the endpoint's rate → 429 with Retry-After. A redelivery
(same endpoint and delivery id) answers 200 and says it is a duplicate."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from hub.db.group_commit import GroupCommit
from hub.doors import parse_json, read_bounded
from hub.errors import BadRequest, NotFound, TooManyRequests, Unauthorized, UnsupportedMediaType
from hub.keys import REDIS, SETTINGS
from hub.openapi import Response, endpoint
from hub.routes.hook_schemas import HookAnswer
from hub.security.webhooks import WebhookSignatureError
from hub.webhooks import inbound
from hub.webhooks.secrets import webhook_box
from jobs import wake
from jobs.wake import Waker

WRITE_BATCH = 64  # deliveries per INSERT (bodies are up to webhook_max_body_bytes each)


@dataclass(frozen=True)
class HookDoor:
    """What the door keeps between requests (no state that matters: caches, the rate tally, the
    shared INSERT and the worker's wake-up)."""

    endpoints: inbound.EndpointCache
    limiter: inbound.RateLimiter
    writer: GroupCommit[inbound.Delivery, inbound.Recorded]
    waker: Waker


HOOK_DOOR = web.AppKey("hook_door", HookDoor)


def parse_payload(request: web.Request, body: bytes) -> object:
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {content_type or 'none'}")
    return parse_json(body)


@endpoint(
    "Inbound webhook: verified per the endpoint's scheme, stored, answered 202; jobs follow from its rules",
    tags=("webhooks",),
    responses={202: Response("accepted (or recorded: no rule matched)", HookAnswer),
               200: Response("a redelivery: already recorded, nothing more happens", HookAnswer,
                             example={"status": "duplicate", "delivery": 42, "delivery_id": "72d3…",
                                      "matched": ["pr-opened"], "detail": "already received"}),
               400: Response("malformed JSON, a delivery id over 200 characters or a header not UTF-8"),
               401: Response("unsigned, tampered or stale"),
               404: Response("no such endpoint"), 413: Response("body too large"),
               415: Response("not JSON"), 429: Response("rate limited (see Retry-After)")},
)  # fmt: skip
async def receive(request: web.Request) -> web.Response:
    door = request.app[HOOK_DOOR]
    config = await door.endpoints.get(request.match_info["endpoint"])
    if config is None or not config.enabled:
        raise NotFound("no such webhook endpoint")
    body = await read_bounded(request, request.app[SETTINGS].webhook_max_body_bytes)
    try:
        inbound.verify(config, request.headers, body, time.time())
    except WebhookSignatureError as exc:
        raise Unauthorized(exc.reason) from None
    payload = parse_payload(request, body)
    try:
        sender_id = inbound.delivery_id(config, request.headers, body)
        headers = inbound.kept_headers(request.headers)
    except inbound.DeliveryRefused as exc:
        raise BadRequest(str(exc)) from None
    retry_after = door.limiter.retry_after_s(config.id, config.rate_limit_per_min)
    if retry_after is not None:
        raise TooManyRequests("rate limit of this endpoint exceeded", headers={"Retry-After": str(retry_after)})
    matched = inbound.match(config, request.headers, payload)
    delivery = inbound.Delivery(config.id, sender_id, headers, body, matched)
    recorded = await door.writer.submit(delivery)
    if recorded.duplicate:
        answer = HookAnswer(status="duplicate", delivery=recorded.id, delivery_id=sender_id, matched=matched,
                            detail=f"already received ({recorded.status.value})")  # fmt: skip
        return web.json_response(text=answer.model_dump_json(), status=200)
    if matched:
        door.waker.wake()
    status: Literal["accepted", "ignored"] = "accepted" if matched else "ignored"
    answer = HookAnswer(status=status, delivery=recorded.id, delivery_id=sender_id, matched=matched,
                        detail=None if matched else "no rule matched")  # fmt: skip
    return web.json_response(text=answer.model_dump_json(), status=202)


async def _door(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    box = webhook_box(settings)
    app[HOOK_DOOR] = door = HookDoor(
        inbound.EndpointCache(box), inbound.RateLimiter(app[REDIS]),
        GroupCommit(inbound.record_many, max_batch=WRITE_BATCH), Waker(app[REDIS], wake.HOOK_DELIVERIES),
    )  # fmt: skip
    yield
    await door.writer.close()
    await door.limiter.close()
    await door.waker.close()


def add_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(_door)
    app.router.add_post("/hooks/{endpoint}", receive)
