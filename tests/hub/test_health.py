"""The hub's basic doors: liveness, readiness, metrics, OpenAPI, request ids and error shape."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.db.lifecycle import known_migrations
from hub.openapi import undocumented_routes
from hub.settings import Settings
from tests.conftest import Stores, create_database, drop_database, free_port

AiohttpClient = Any


async def test_healthz_answers_alive(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_stores_up_and_migrations_applied(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "migrations": "ok", "redis": "ok"},
    }


async def test_readyz_is_503_with_the_reason_when_redis_is_unreachable(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    assert settings.database_url is not None
    down = settings.with_stores(settings.database_url, f"redis://127.0.0.1:{free_port()}/0")
    client: TestClient = await aiohttp_client(create_app(down))
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("error: ConnectionError")


async def test_readyz_is_503_naming_the_pending_migrations(
    aiohttp_client: AiohttpClient, settings: Settings, stores: Stores
) -> None:
    name = f"gs_bare_{uuid.uuid4().hex[:8]}"
    bare = settings.with_stores(await create_database(stores, name), settings.redis_url or "")
    try:
        client: TestClient = await aiohttp_client(create_app(bare))
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503
        assert body["checks"]["migrations"] == "pending: " + ", ".join(known_migrations())
        await client.close()
    finally:
        await drop_database(stores, name)


async def test_metrics_count_requests_in_prometheus_format(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    await client.get("/healthz")
    await client.get("/healthz")
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'garageswarm_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert "garageswarm_http_request_seconds_bucket" in text


async def test_request_id_is_echoed_or_generated(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    hostile = await client.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert len(hostile.headers["X-Request-Id"]) == 32


async def test_unknown_path_gets_a_json_error(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    response = await client.get("/nope")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_every_route_is_documented_with_schemas_and_examples(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    app = create_app(settings)
    assert undocumented_routes(app) == []
    client: TestClient = await aiohttp_client(app)
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    routes = {
        (
            route.method.lower(),
            route.resource.get_info().get("formatter") or route.resource.get_info()["path"],
        )
        for route in app.router.routes()
        if route.method not in ("HEAD", "OPTIONS") and route.resource is not None
    }
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content")
                assert content, f"{method} {path} {status} has no content schema"
                media = next(iter(content.values()))
                assert "schema" in media
                if next(iter(content)) == "application/json":
                    assert "example" in media, f"{method} {path} {status} has no example"
            if "requestBody" in operation:
                assert "example" in operation["requestBody"]["content"]["application/json"]
    refs = [name for name in document["components"]["schemas"]]
    assert "Readiness" in refs
