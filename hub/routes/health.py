"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from tortoise import connections

from ..db.lifecycle import pending_migrations
from ..keys import METRICS, REDIS
from ..openapi import Response, build_openapi, endpoint

CHECK_TIMEOUT_S = 2.0


class Alive(BaseModel):
    status: Literal["ok"]

    model_config = {"json_schema_extra": {"examples": [{"status": "ok"}]}}


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]

    model_config = {
        "json_schema_extra": {
            "examples": [{"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "migrations": "ok"}}]
        }
    }


@endpoint("Liveness: the process answers", tags=("health",), responses={200: Response("alive", Alive)})
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _check_postgres() -> tuple[str, str]:
    connection = connections.get("default")
    async with connection.acquire_connection() as raw:
        pending = await pending_migrations(raw)
    return "ok", ("ok" if not pending else "pending: " + ", ".join(pending))


async def _check_redis(request: web.Request) -> str:
    await request.app[REDIS].ping()
    return "ok"


async def _timed(check: Any) -> Any:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"timeout after {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"


@endpoint(
    "Readiness: Postgres and Redis reachable and migrations applied",
    tags=("health",),
    responses={
        200: Response("ready", Readiness),
        503: Response(
            "not ready, with the reason",
            Readiness,
            example={"status": "unavailable", "checks": {"postgres": "ok", "redis": "error: ConnectionError",
                                                         "migrations": "ok"}},
        ),
    },
)  # fmt: skip
async def readyz(request: web.Request) -> web.Response:
    postgres, redis = await asyncio.gather(_timed(_check_postgres()), _timed(_check_redis(request)))
    checks: dict[str, str] = {}
    if isinstance(postgres, tuple):
        checks["postgres"], checks["migrations"] = postgres
    else:
        checks["postgres"], checks["migrations"] = postgres, "unknown"
    checks["redis"] = redis
    ready = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


@endpoint(
    "Prometheus metrics",
    tags=("health",),
    responses={200: Response("metrics in the Prometheus text format", media_type="text/plain")},
)
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class OpenApiDocument(BaseModel):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]

    model_config = {
        "json_schema_extra": {
            "examples": [{"openapi": "3.1.0", "info": {"title": "GarageSwarm hub", "version": "0.1.0"},
                          "paths": {}, "components": {}}]
        }
    }  # fmt: skip


@endpoint("This OpenAPI document", tags=("meta",), responses={200: Response("OpenAPI 3.1", OpenApiDocument)})
async def openapi(request: web.Request) -> web.Response:
    from .. import __version__

    return web.json_response(build_openapi(request.app, title="GarageSwarm hub", version=__version__))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
