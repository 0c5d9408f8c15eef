"""A tool as the catalog knows it, and its usage line generated from its MCP input schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_MAX_DEFAULT_CHARS: Final = 40
_MAX_HINT_DEPTH: Final = 3


@dataclass(frozen=True)
class ToolInfo:
    """One tool of one MCP server: its name, description and JSON Schema for the arguments."""

    server: str
    name: str
    description: str
    input_schema: Mapping[str, Any]

    @property
    def qualified_name(self) -> str:
        """The catalog key, ``server.name``."""
        return f"{self.server}.{self.name}"


def tool_usage(info: ToolInfo) -> str:
    """Return e.g. ``tool demo.progress steps=<integer> [delay_s=<number> (default 0.5)]``."""
    schema = info.input_schema
    properties = _mapping(schema.get("properties"))
    required = [name for name in _list(schema.get("required")) if isinstance(name, str)]
    words = [f"tool {info.qualified_name}"]
    words += [f"{name}=<{_type_hint(properties.get(name), schema)}>" for name in required]
    for name, prop in properties.items():
        if name not in required:
            words.append(f"[{name}=<{_type_hint(prop, schema)}>{_default_hint(prop)}]")
    # A schema that declares no properties at all takes any; ``"properties": {}`` declares that there are none.
    if "properties" not in schema and schema.get("additionalProperties") is not False:
        words.append("[key=value ...]")
    return " ".join(words)


def _type_hint(schema: Any, root: Mapping[str, Any], depth: int = 0) -> str:
    """A short name for what a property accepts: ``string``, ``integer|null``, ``fast|slow``."""
    if isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        schema = _local_ref(root, schema["$ref"])
    if not isinstance(schema, Mapping) or depth > _MAX_HINT_DEPTH:
        return "value"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "|".join(_literal(value) for value in schema["enum"])
    if "const" in schema:
        return _literal(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list) and kind:
        return "|".join(str(item) for item in kind)
    for keyword in ("anyOf", "oneOf"):
        options = _list(schema.get(keyword))
        if options:
            return "|".join(dict.fromkeys(_type_hint(option, root, depth + 1) for option in options))
    return "value"


def _local_ref(root: Mapping[str, Any], ref: str) -> Any:
    """Follow a ``#/$defs/Name`` style reference inside the schema; anything else resolves to None."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def _default_hint(schema: Any) -> str:
    if not isinstance(schema, Mapping) or "default" not in schema:
        return ""
    text = json.dumps(schema["default"], ensure_ascii=False)
    if len(text) > _MAX_DEFAULT_CHARS:
        text = text[: _MAX_DEFAULT_CHARS - 1] + "…"
    return f" (default {text})"


def _literal(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
