"""Request id, JSON access logs, metrics and the one place our errors become HTTP answers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web

from ..errors import ApiError, BadRequest, PayloadTooLarge
from ..keys import METRICS
from ..logs import request_id_var
from ..openapi import Handler

log = logging.getLogger("hub.http")
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def error_response(error: ApiError) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return web.json_response(body, status=error.status, headers=error.headers)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id (the caller's, if well-formed), log it, count it, map errors."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await _answer(request, handler)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = request.match_info.route.resource
        route_name = route.canonical if route is not None else "unmatched"
        metrics = request.app[METRICS]
        metrics.http_requests.labels(request.method, route_name, str(status)).inc()
        metrics.http_latency.labels(request.method, route_name).observe(elapsed)
        if status >= 400 or log.isEnabledFor(logging.DEBUG):
            log.info(
                "request",
                extra={"method": request.method, "path": request.path, "status": status,
                       "ms": round(elapsed * 1000, 2)},
            )  # fmt: skip
        request_id_var.reset(token)


def _check_url(request: web.Request) -> None:
    """A NUL in the path or the query (``%00``) is a 400 before any handler: no id, name or filter holds one,
    and Postgres refuses it in text (a lookup would fail with a 500)."""
    if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, value in request.query.items()):
        raise BadRequest("the URL holds a NUL character (%00)")


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _check_url(request)
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPRequestEntityTooLarge:
        return error_response(PayloadTooLarge("request body too large"))
    except web.HTTPException as exc:
        if exc.status >= 400:
            code = exc.reason.lower().replace(" ", "_")
            body = {"error": {"code": code, "message": exc.reason, "details": None}}
            return web.json_response(body, status=exc.status)
        raise
    except Exception:
        log.exception("unhandled error")
        body = {"error": {"code": "internal", "message": "internal error", "details": None}}
        return web.json_response(body, status=500)
