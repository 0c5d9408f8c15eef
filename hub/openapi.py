"""OpenAPI 3.1 generated from the code: each handler declares its contract with ``@endpoint``.

The document is built by walking the application's router, so a route without a declared
contract is a bug the tests catch (``test_every_route_is_documented``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from .doors import parse_json, read_bounded
from .errors import BadRequest, UnprocessableEntity

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
SPEC_ATTR = "__openapi__"


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API has this shape."""

    error: ErrorDetail

    model_config = {
        "json_schema_extra": {
            "examples": [{"error": {"code": "not_found", "message": "job 3f2a… not found", "details": None}}]
        }
    }


@dataclass(frozen=True)
class Response:
    description: str
    model: type[BaseModel] | None = None
    example: Any = None
    media_type: str = "application/json"


@dataclass(frozen=True)
class EndpointSpec:
    summary: str
    tags: tuple[str, ...]
    responses: dict[int, Response]
    request: type[BaseModel] | None = None
    request_example: Any = None
    security: tuple[str, ...] = ()
    query: dict[str, str] = field(default_factory=dict)


def endpoint(
    summary: str,
    *,
    tags: tuple[str, ...],
    responses: dict[int, Response],
    request: type[BaseModel] | None = None,
    request_example: Any = None,
    security: tuple[str, ...] = (),
    query: dict[str, str] | None = None,
) -> Callable[[H], H]:
    """Attach the handler's contract (used for the OpenAPI document and nothing else)."""
    spec = EndpointSpec(summary, tags, responses, request, request_example, security, query or {})

    def attach(handler: H) -> H:
        setattr(handler, SPEC_ATTR, spec)
        return handler

    return attach


def spec_of(handler: object) -> EndpointSpec | None:
    spec = getattr(handler, SPEC_ATTR, None)
    return spec if isinstance(spec, EndpointSpec) else None


M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body: 413 when too large, 400 when malformed, 422 when invalid."""
    if request.content_type != "application/json":
        raise BadRequest(f"expected Content-Type application/json, got {request.content_type or 'none'}")
    data = parse_json(await read_bounded(request, request.app._client_max_size))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise UnprocessableEntity("invalid request body", details=problems) from None


class _Schemas:
    """Collects pydantic JSON Schemas under ``components.schemas``."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            self.components[name] = sub
        self.components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _example_of(model: type[BaseModel] | None, example: Any) -> Any:
    if example is not None:
        return example.model_dump(mode="json") if isinstance(example, BaseModel) else example
    if model is None:
        return None
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return examples[0] if isinstance(examples, list) and examples else None


def _operation(spec: EndpointSpec, schemas: _Schemas, path_params: list[str]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": spec.summary, "tags": list(spec.tags), "responses": {}}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path_params]
    params += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": desc}
        for name, desc in spec.query.items()
    ]
    if params:
        operation["parameters"] = params
    if spec.security:
        operation["security"] = [{name: []} for name in spec.security]
    if spec.request is not None:
        media: dict[str, Any] = {"schema": schemas.ref(spec.request)}
        if (example := _example_of(spec.request, spec.request_example)) is not None:
            media["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    for status, response in sorted(spec.responses.items()):
        entry: dict[str, Any] = {"description": response.description}
        model = response.model if response.model is not None or status < 400 else ErrorBody
        if model is not None or response.media_type != "application/json":
            media = {"schema": schemas.ref(model) if model is not None else {"type": "string"}}
            if (example := _example_of(model, response.example)) is not None:
                media["example"] = example
            entry["content"] = {response.media_type: media}
        operation["responses"][str(status)] = entry
    return operation


def build_openapi(app: web.Application, *, title: str, version: str) -> dict[str, Any]:
    """Walk the router and build the OpenAPI document from each handler's declared contract."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        spec = spec_of(route.handler)
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if spec is None or path is None:
            continue
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        paths.setdefault(path, {})[route.method.lower()] = _operation(spec, schemas, params)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer", "description": "API token (gs_...)"},
                "workerKey": {"type": "http", "scheme": "bearer", "description": "agent API key (gsw_...)"},
            },
        },
    }


def undocumented_routes(app: web.Application) -> list[str]:
    """Routes with no declared contract (should always be empty)."""
    missing = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        if spec_of(route.handler) is None:
            missing.append(f"{route.method} {route.resource.canonical}")
    return missing
