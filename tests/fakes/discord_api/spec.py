"""Discord's OpenAPI spec as the fake uses it: operations by method and path, request validation, error shapes."""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeAlias

import jsonschema
import referencing
from jsonschema.exceptions import ValidationError
from referencing.jsonschema import DRAFT202012

# The official spec from ../shared/specs/discord-openapi.json, vendored (gzipped) so that the tests run from any
# clone; DISCORD_OPENAPI_SPEC points them at another copy (plain or .gz).
_VENDORED_SPEC = Path(__file__).resolve().parent / "discord-openapi.json.gz"
DEFAULT_SPEC_PATH: Final = Path(os.environ.get("DISCORD_OPENAPI_SPEC", str(_VENDORED_SPEC)))
SPEC_URI: Final = "urn:discord:openapi"
_BODY_TYPES: Final = ("application/json", "multipart/form-data")
# Fields discord.py sends that the spec does not list and Discord accepts (``tts`` on edits, embed ``flags``).
_ALSO_ACCEPTED: Final = {
    "IncomingWebhookUpdateRequestPartial": {"tts": {"type": ["boolean", "null"]}},
    "MessageEditRequestPartial": {"tts": {"type": ["boolean", "null"]}},
    "RichEmbed": {"flags": {"type": ["integer", "null"]}},
}

Json = dict[str, Any]
Validator: TypeAlias = Any  # a jsonschema validator (jsonschema ships no type information)


class DiscordApiError(Exception):
    """An error answer in Discord's shape: ``{"code", "message", "errors"?}``."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"code": code, "message": message, **({"errors": errors} if errors else {})}


def form_error(path: list[str], code: str, message: str) -> DiscordApiError:
    """Discord's 400 "Invalid Form Body" (50035) with ``errors`` nested by field path."""
    errors: Json = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path):
        errors = {part: errors}
    return DiscordApiError(400, 50035, "Invalid Form Body", errors)


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: how to match its path, who may call it, and how to check its input."""

    method: str
    template: str
    pattern: re.Pattern[str]
    needs_bot_token: bool
    query_names: frozenset[str]
    params: Validator
    bodies: dict[str, Validator]  # by content type


class DiscordSpec:
    """The OpenAPI document with its operations found by method and path; ``$ref``s resolve within it."""

    def __init__(self, document: Json) -> None:
        _tighten(document["components"]["schemas"])
        resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: referencing.Registry[Any] = referencing.Registry().with_resource(SPEC_URI, resource)
        self.operations = [
            self._operation(path, method, item)
            for path, item in document["paths"].items()
            for method in ("get", "post", "put", "patch", "delete")
            if method in item
        ]
        # Literal segments win over parameters: `messages/@original` before `messages/{message_id}`.
        self.operations.sort(key=lambda op: op.template.count("{"))
        self.by_route = {(op.method, op.template): op for op in self.operations}

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for ``method path`` and its path parameters, or None."""
        for op in self.operations:
            found = op.pattern.fullmatch(path) if op.method == method.upper() else None
            if found:
                return op, found.groupdict()
        return None

    def validator(self, pointer: str) -> Validator:
        """A validator for the schema at JSON pointer ``pointer`` in the document."""
        return jsonschema.Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry)

    def response_validator(self, op: Operation, status: int) -> Validator:
        """A validator for the JSON ``op`` answers with ``status`` (to check the fake's own answers)."""
        responses = f"/paths/{_escape(op.template)}/{op.method.lower()}/responses"
        return self.validator(f"{responses}/{status}/content/application~1json/schema")

    def _operation(self, path: str, method: str, item: Json) -> Operation:
        operation, base = item[method], f"/paths/{_escape(path)}"
        parts = re.split(r"{(\w+)}", path)  # literal, name, literal, name, ...
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
        refs = {p["name"]: f"{SPEC_URI}#{base}/parameters/{i}/schema" for i, p in enumerate(item.get("parameters", []))}
        params = {"type": "object", "required": parts[1::2], "properties": {n: {"$ref": r} for n, r in refs.items()}}
        content = (operation.get("requestBody") or {}).get("content", {})
        return Operation(
            method=method.upper(),
            template=path,
            pattern=re.compile(regex),
            needs_bot_token={} not in operation.get("security", [{}]),
            query_names=frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query"),
            params=jsonschema.Draft202012Validator(params, registry=self.registry),
            bodies={
                kind: self.validator(f"{base}/{method}/requestBody/content/{_escape(kind)}/schema")
                for kind in _BODY_TYPES
                if kind in content
            },
        )


@functools.cache
def load_spec(path: Path = DEFAULT_SPEC_PATH) -> DiscordSpec:
    """Parse the spec once per process (~10 ms); validators are built per operation, ``$ref``s resolved lazily."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return DiscordSpec(json.loads(raw))


def check(validator: Validator, instance: Any) -> None:
    """Raise Discord's 400 for the most relevant error of ``instance`` against the schema, if any."""
    errors = list(validator.iter_errors(instance))
    if errors:
        raise _as_form_error(most_relevant(errors))


def most_relevant(errors: list[ValidationError]) -> ValidationError:
    """The error to report: the most specific one, inside the ``anyOf``/``oneOf`` branch the body meant.

    The branch meant is the one whose ``type`` matches (a wrong ``type`` rules a branch out), then the one
    with the fewest errors: ``{"type": 2, "custom_id": <200 chars>}`` is a button with a long custom_id, not a
    select menu with the wrong type.
    """
    error = max(errors, key=lambda error: len(error.absolute_path))
    while error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = min(branches.values(), key=lambda branch: (any(map(_wrong_type, branch)), len(branch)))
        error = max(meant, key=lambda sub: len(sub.absolute_path))
    return error


def _wrong_type(error: ValidationError) -> bool:
    return list(error.relative_path)[-1:] == ["type"] and error.validator in ("enum", "const", "allOf")


def _as_form_error(error: ValidationError) -> DiscordApiError:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        path.append(next((name for name in error.validator_value if name not in error.instance), "?"))
        return form_error(path, "BASE_TYPE_REQUIRED", "This field is required")
    if error.validator == "maxLength":
        return form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {error.validator_value} or fewer in length.")
    if error.validator == "minLength":
        return form_error(path, "BASE_TYPE_MIN_LENGTH", f"Must be {error.validator_value} or more in length.")
    return form_error(path, f"SCHEMA_{str(error.validator).upper()}", error.message[:300])


def _tighten(schemas: Json) -> None:
    """Refuse unknown fields; accept integer snowflakes and what discord.py adds, as Discord does."""
    for schema in schemas.values():
        if isinstance(schema, dict) and "properties" in schema and "additionalProperties" not in schema:
            schema["unevaluatedProperties"] = False
    for name, fields in _ALSO_ACCEPTED.items():
        schemas[name]["properties"].update(fields)
    schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]}


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
