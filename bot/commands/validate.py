"""Check a :class:`RunTool` against the tool catalog and the tool's JSON Schema, offline."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]  # jsonschema ships no type information
import referencing
import referencing.exceptions

from bot.commands.errors import MAX_SUGGESTIONS, CommandError, closest, or_list
from bot.commands.model import RunTool, Subcommand
from bot.commands.tools import ToolInfo, tool_usage
from bot.commands.usage import USAGE

MAX_PROBLEMS: Final = 20
MAX_PROBLEM_CHARS: Final = 200

_VALIDATORS: Final = (
    jsonschema.Draft202012Validator,
    jsonschema.Draft201909Validator,
    jsonschema.Draft7Validator,
    jsonschema.Draft6Validator,
    jsonschema.Draft4Validator,
)


def _schema_uri_key(uri: str) -> str:
    """``http://json-schema.org/draft-07/schema#`` and ``https://…/schema`` name the same draft."""
    return uri.removeprefix("https://").removeprefix("http://").rstrip("#")


_BY_SCHEMA_URI: Final[dict[str, Any]] = {
    _schema_uri_key(v.META_SCHEMA.get("$id") or v.META_SCHEMA["id"]): v for v in _VALIDATORS
}
# An empty registry: a remote "$ref" is an error instead of a download.
_OFFLINE: Final = referencing.Registry()


def validate_tool_call(run: RunTool, catalog: Mapping[str, ToolInfo]) -> None:
    """Raise CommandError unless ``run`` names a tool in ``catalog`` with arguments its schema accepts."""
    info = catalog.get(run.qualified_name)
    if info is None:
        raise _unknown_tool(run.qualified_name, catalog)
    problems = argument_problems(info, run.arguments)
    if problems:
        lines = [f"invalid arguments for {info.qualified_name}:", *(f"- {p}" for p in problems)]
        raise CommandError("\n".join(lines), tool_usage(info))


Path = tuple[str | int, ...]


def argument_problems(
    info: ToolInfo, arguments: Mapping[str, Any], *, not_yet_known: Callable[[Path], bool] | None = None
) -> list[str]:
    """Every way ``arguments`` break the tool's input schema, as ``path: problem`` lines.

    Args:
        not_yet_known: says which values are not known yet (a webhook rule's templates, rendered later):
            problems of those values are left out; a missing or unknown argument is still one.
    """
    try:
        validator = _validator(json.dumps(info.input_schema))
        errors = list(validator.iter_errors(dict(arguments)))
        if not_yet_known is not None:
            errors = [error for error in errors if not not_yet_known(tuple(error.absolute_path))]
    except (jsonschema.SchemaError, referencing.exceptions.Unresolvable) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise CommandError(
            f"the tool {info.qualified_name} has an unusable input schema ({_shorten(message)})",
            tool_usage(info),
        ) from None
    # Problems with the arguments as a whole first, then in the order of the schema's properties.
    found = dict.fromkeys([*_undeclared(info.input_schema, arguments),
                           *(problem for error in errors for problem in _describe(error))])  # fmt: skip
    ordered = sorted(found, key=lambda problem: problem[0] != "")
    lines = [f"{path}: {text}" if path else text for path, text in ordered]
    if len(lines) > MAX_PROBLEMS:
        lines = [*lines[:MAX_PROBLEMS], f"… and {len(lines) - MAX_PROBLEMS} more problems"]
    return lines


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> Any:
    """A checked validator per distinct schema: checking a schema costs far more than using it."""
    schema = json.loads(schema_json)
    validator_class = _validator_class(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, registry=_OFFLINE)


def _validator_class(schema: Mapping[str, Any]) -> Any:
    """Draft 2020-12 unless ``$schema`` names another draft that jsonschema knows (e.g. draft-07)."""
    declared = schema.get("$schema")
    default = jsonschema.Draft202012Validator
    return _BY_SCHEMA_URI.get(_schema_uri_key(declared), default) if isinstance(declared, str) else default


def _describe(error: Any) -> list[tuple[str, str]]:
    """One ``(path, problem)`` per problem; a ``required`` error may name several missing arguments."""
    path = _path(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        missing = [name for name in error.validator_value if name not in instance]
        return [(path, f"missing required argument '{name}'") for name in missing]
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if (
        error.validator == "additionalProperties"
        and error.validator_value is False
        and isinstance(instance, Mapping)
        and "patternProperties" not in schema
    ):
        known = list(schema.get("properties", {}))
        return [(path, _unknown_argument(name, known)) for name in instance if name not in known]
    return [(path, _shorten(_in_json(error)))]


def _in_json(error: Any) -> str:
    """jsonschema's message with the values it quotes as Python (``True``, ``'abc'``, ``None``) written as
    JSON (``true``, ``"abc"``, ``null``): what the user typed, and what the schema says."""
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{_json(error.instance)} is not of type {' or '.join(str(name) for name in expected)}"
    message = str(error.message)
    for value in (error.instance, error.validator_value):
        if isinstance(value, str | int | float | bool | list | dict) or value is None:
            message = message.replace(repr(value), _json(value), 1)
    return message


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


# Keywords through which a schema may accept properties it does not list: with any of them, an argument
# missing from ``properties`` may still be valid, and only the validator decides.
_OPEN_KEYWORDS: Final = frozenset({"additionalProperties", "patternProperties", "unevaluatedProperties", "allOf",
                                   "anyOf", "oneOf", "$ref", "$dynamicRef", "if", "dependentSchemas"})  # fmt: skip


def _undeclared(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Arguments the schema does not declare. JSON Schema allows them unless it says otherwise, but a name
    no property has is almost always a typo (``stpes=3``) that would be dropped silently, so they are refused
    unless the schema explicitly accepts more (``additionalProperties`` and its kin). A schema without
    ``properties`` says nothing about names: anything goes."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or _OPEN_KEYWORDS & set(schema):
        return []
    known = list(properties)
    return [("", _unknown_argument(name, known)) for name in arguments if name not in properties]


def _unknown_argument(name: str, known: list[str]) -> str:
    matches = closest(name, known)
    return f"unknown argument '{name}'" + (f"; did you mean {or_list(matches)}?" if matches else "")


def _path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 1] + "…"


def _unknown_tool(name: str, catalog: Mapping[str, ToolInfo]) -> CommandError:
    matches = closest_tools(name, catalog)
    if matches:
        hint = f"did you mean {or_list(matches)}?"
    elif catalog:
        hint = "`/swarm tools` lists the tools"
    else:
        hint = "no worker offers any tool right now"
    return CommandError(f"unknown tool '{name}'; {hint}", USAGE[Subcommand.TOOL])


def closest_tools(name: str, catalog: Mapping[str, ToolInfo]) -> list[str]:
    """Up to three catalog names for a mistyped ``server.tool``: by tool name (same server first), else whole."""
    server, _, tool = name.partition(".")
    by_tool: dict[str, list[ToolInfo]] = {}
    for info in catalog.values():
        by_tool.setdefault(info.name, []).append(info)
    names = [
        info.qualified_name
        for match in closest(tool, by_tool, limit=len(by_tool))
        for info in sorted(by_tool[match], key=lambda info: (info.server != server, info.server))
    ]
    return names[:MAX_SUGGESTIONS] or closest(name, catalog)
