"""Strict JSON for argument values, and the inverse: writing arguments back as ``key=value`` text."""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping
from typing import Any, NoReturn

MAX_JSON_DEPTH = 32


class InvalidJson(Exception):
    """The text is not JSON (so a ``key=value`` value is taken as a plain string)."""


class RefusedJson(Exception):
    """The text is JSON that we do not accept: duplicate keys, a number out of range, too deep."""


def decode_json(text: str) -> Any:
    """Decode RFC 8259 JSON, refusing NaN/Infinity, duplicate keys, infinite numbers and deep nesting."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_not_json,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise RefusedJson(f"it is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(_decode_error(exc)) from None
    except ValueError as exc:  # an integer with too many digits
        raise InvalidJson(str(exc)) from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise RefusedJson(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def format_arguments(arguments: Mapping[str, Any]) -> str:
    """Write arguments as ``key=value`` words that :func:`parse_command` reads back unchanged."""
    return " ".join(f"{key}={shlex.quote(_format_value(value))}" for key, value in arguments.items())


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        try:
            decode_json(value)
        except InvalidJson:
            return value  # reads back as the same plain string
        except RefusedJson:
            pass
    return json.dumps(value, ensure_ascii=False)


def _decode_error(exc: json.JSONDecodeError) -> str:
    if exc.msg == "Extra data":
        return f"there is more text after the JSON value (at character {exc.pos + 1})"
    return f"{exc.msg} (at character {exc.pos + 1})"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RefusedJson(f"the key '{key}' appears twice in a JSON object")
        result[key] = value
    return result


def _not_json(constant: str) -> NoReturn:
    raise InvalidJson(f"{constant} is not a JSON value")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise RefusedJson(f"the number {text[:20]} is too large")
    return number


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep (iterative: the value may be ~1,000 deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
