"""Rules of an inbound endpoint: a filter on headers and JSON fields, and a job rendered from the payload.

Pure functions, no I/O. Templates run in Jinja's sandbox with undefined names as errors; a string that
is exactly one ``{{ expression }}`` keeps the expression's type (a number stays a number)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from bot.commands import CommandError, ToolInfo, argument_problems

MAX_RENDERED_CHARS = 64 * 1024
MAX_OPERAND = 10_000
_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}$", re.DOTALL)
RULE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
TOOL_TEMPLATE_MAX = 400


class RuleError(ValueError):
    """A rule cannot be used or rendered; the message says which rule and why."""


class Filter(BaseModel):
    """All conditions must hold. A list of values means any of them; ``"*"`` for a header means present."""

    headers: dict[str, str | list[str]] = Field(default_factory=dict)
    json_fields: dict[str, Any] = Field(default_factory=dict, alias="json", description="dotted path → value")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Rule(BaseModel):
    name: str = Field(pattern=RULE_NAME)
    when: Filter = Field(default_factory=Filter)
    tool: str = Field(max_length=TOOL_TEMPLATE_MAX, description="SERVER.TOOL (may be a template)")
    arguments: dict[str, Any] = Field(default_factory=dict, description="values may be templates")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "pr-opened",
                 "when": {"headers": {"X-GitHub-Event": "pull_request"}, "json": {"action": "opened"}},
                 "tool": "demo.echo",
                 "arguments": {"text": "PR #{{ payload.number }}: {{ payload.pull_request.title }}"}}
            ]
        },
    )  # fmt: skip


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded so a template cannot build a huge value."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numbers = [v for v in (left, right) if isinstance(v, int | float)]
        if operator == "**" and any(abs(v) > 64 for v in numbers[1:]):
            raise RuleError("exponent too large in template")
        if operator == "*" and len(numbers) < 2 and any(abs(v) > MAX_OPERAND for v in numbers):
            raise RuleError("repetition too large in template")
        return super().call_binop(context, operator, left, right)


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False)


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """Follow a dotted path (``pull_request.base.ref``, list indexes as numbers); (found, value)."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def _one_of(expected: Any) -> list[Any]:
    return expected if isinstance(expected, list) else [expected]


def matches(rule: Rule, headers: Mapping[str, str], payload: Any) -> bool:
    """Whether every condition of the rule's filter holds for this delivery."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, expected in rule.when.headers.items():
        value = lowered.get(name.lower())
        if value is None or (expected != "*" and value not in _one_of(expected)):
            return False
    for path, expected in rule.when.json_fields.items():
        found, value = lookup(payload, path)
        if not found or not any(_same(value, option) for option in _one_of(expected)):
            return False
    return True


def _same(value: Any, expected: Any) -> bool:
    # JSON true must not equal 1: compare types as well as values.
    return type(value) is type(expected) and bool(value == expected)


def matching_rules(rules: list[Rule], headers: Mapping[str, str], payload: Any) -> list[Rule]:
    return [rule for rule in rules if matches(rule, headers, payload)]


@lru_cache(maxsize=1024)
def _compile(source: str) -> Any:
    single = _SINGLE_EXPRESSION.match(source.strip())
    if single is not None:
        return ("expression", _ENV.compile_expression(single.group("expr"), undefined_to_none=False))
    return ("template", _ENV.from_string(source))


def check_templates(rule: Rule) -> None:
    """Raise RuleError if a template of the rule does not compile (called when rules are saved)."""
    for source in _strings(rule.arguments, [rule.tool]):
        try:
            _compile(source)
        except TemplateError as exc:
            raise RuleError(f"rule {rule.name}: template {source[:80]!r} does not compile: {exc}") from None


def check_arguments(rule: Rule, catalog: Mapping[str, ToolInfo]) -> None:
    """Raise RuleError if the rule names a known tool (literally, not by a template) with arguments its input
    schema refuses: an unknown or missing argument, a literal value of the wrong type. A value that is a
    template is checked when it renders (the job is validated like any other); an unknown tool is too."""
    info = catalog.get(rule.tool.strip())
    if info is None or _is_template(rule.tool):
        return
    try:
        problems = argument_problems(info, rule.arguments, not_yet_known=lambda path: _is_template(_at(rule, path)))
    except CommandError as exc:  # the tool's schema itself is unusable
        raise RuleError(f"rule {rule.name}: {exc.message}") from None
    if problems:
        raise RuleError(f"rule {rule.name}: invalid arguments for {info.qualified_name}: {'; '.join(problems)}")


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{" in value  # what _render_value renders


def _at(rule: Rule, path: tuple[str | int, ...]) -> Any:
    found, value = lookup(rule.arguments, ".".join(str(part) for part in path))
    return value if found else None


def _strings(value: Any, found: list[str]) -> list[str]:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _strings(item, found)
    return found


def _render_value(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, context) for item in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    kind, compiled = _compile(value)
    result = compiled(**context) if kind == "expression" else compiled.render(**context)
    if kind == "expression":
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            result = str(result)
    if len(json.dumps(result)) > MAX_RENDERED_CHARS:
        raise RuleError(f"a rendered value is longer than {MAX_RENDERED_CHARS} characters")
    return result


def render(rule: Rule, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The rule's (tool, arguments) for this delivery; RuleError says why it cannot be rendered."""
    try:
        tool = str(_render_value(rule.tool, context)).strip()
        arguments = _render_value(rule.arguments, context)
    except RuleError:
        raise
    except Exception as exc:  # template errors, sandbox refusals, errors raised by filters
        raise RuleError(f"rule {rule.name}: {type(exc).__name__}: {exc}") from None
    return tool, arguments


def template_context(payload: Any, headers: Mapping[str, str], delivery_id: str, endpoint: str) -> dict[str, Any]:
    """What templates see: ``payload``, ``headers`` (lower-case names), ``delivery_id``, ``endpoint``."""
    return {
        "payload": payload,
        "headers": {key.lower(): value for key, value in headers.items()},
        "delivery_id": delivery_id,
        "endpoint": endpoint,
    }
