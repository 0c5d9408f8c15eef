"""Checking a parsed ``tool`` command against the catalog and the tools' MCP input schemas.

``fixtures/mcp_server_time_tools_list.json`` is the ``tools/list`` result of the real ``mcp-server-time``
server; ``fixtures/demo_tools_list.json`` has schemas as FastMCP (pydantic) and zod-to-json-schema
(draft-07) emit them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.commands import (
    CommandError,
    RunTool,
    ToolInfo,
    parse_command,
    tool_usage,
    validate_tool_call,
)

FIXTURES = Path(__file__).parent / "fixtures"
TOOL_USAGE = "tool SERVER.TOOL [key=value ... | {JSON}]"


def load_tools(name: str, server: str) -> dict[str, ToolInfo]:
    tools = json.loads((FIXTURES / name).read_text())["tools"]
    infos = [ToolInfo(server, tool["name"], tool["description"], tool["inputSchema"]) for tool in tools]
    return {info.qualified_name: info for info in infos}


CATALOG = load_tools("demo_tools_list.json", "demo") | load_tools("mcp_server_time_tools_list.json", "time")


def run(text: str) -> RunTool:
    command = parse_command(text)
    assert isinstance(command, RunTool)
    return command


def error_of(text: str, catalog: dict[str, ToolInfo] = CATALOG) -> CommandError:
    with pytest.raises(CommandError) as caught:
        validate_tool_call(run(text), catalog)
    return caught.value


def single_tool(schema: dict[str, Any]) -> dict[str, ToolInfo]:
    return {"x.y": ToolInfo("x", "y", "a test tool", schema)}


@pytest.mark.parametrize(
    "text",
    [
        'tool demo.echo text="hello world"',
        "tool demo.progress",
        "tool demo.progress steps=3 delay_s=0",
        'tool demo.render {"prompt": "a cat", "options": {"format": "png", "width": 512, "seed": null}}',
        "tool time.get_current_time timezone=Europe/London",
    ],
)
def test_arguments_that_fit_the_schema_pass(text: str) -> None:
    validate_tool_call(run(text), CATALOG)


def test_a_missing_required_argument_is_named_with_the_tool_usage() -> None:
    assert error_of("tool demo.echo") == CommandError(
        "invalid arguments for demo.echo:\n- missing required argument 'text'", "tool demo.echo text=<string>"
    )


def test_a_value_of_the_wrong_type_is_named_with_its_path() -> None:
    assert error_of("tool demo.progress steps=abc") == CommandError(
        'invalid arguments for demo.progress:\n- steps: "abc" is not of type integer',
        "tool demo.progress [steps=<integer> (default 5)] [delay_s=<number> (default 0.5)]",
    )


def test_every_problem_is_listed_whole_arguments_first_then_in_schema_order() -> None:
    error = error_of("""tool demo.render prompt="" options='{"width": 10, "extra": 1}' tags='[1, "a"]' promt=x""")

    assert error == CommandError(
        "invalid arguments for demo.render:\n"
        "- unknown argument 'promt'; did you mean 'prompt'?\n"
        '- prompt: "" should be non-empty\n'
        "- options.width: 10 is less than the minimum of 64\n"
        "- options: missing required argument 'format'\n"
        "- options: unknown argument 'extra'\n"
        "- tags[0]: 1 is not of type string",
        "tool demo.render prompt=<string> [options=<object>] [tags=<array>]",
    )


def test_several_missing_arguments_of_a_real_mcp_server_are_all_named() -> None:
    assert error_of("tool time.convert_time time=12:00") == CommandError(
        "invalid arguments for time.convert_time:\n"
        "- missing required argument 'source_timezone'\n"
        "- missing required argument 'target_timezone'",
        "tool time.convert_time source_timezone=<string> time=<string> target_timezone=<string>",
    )


def test_nested_enum_and_nullable_problems_carry_their_path() -> None:
    error = error_of('tool demo.render {"prompt": "cat", "options": {"format": "gif", "seed": "x"}}')

    assert error.message == (
        "invalid arguments for demo.render:\n"
        '- options.format: "gif" is not one of ["png", "jpeg"]\n'
        '- options.seed: "x" is not of type integer or null'
    )


def test_a_draft_07_schema_is_validated_as_draft_07() -> None:
    draft_07_tuple = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}},
    }

    with pytest.raises(CommandError) as caught:
        validate_tool_call(RunTool("x", "y", {"pair": ["a", "b"]}), single_tool(draft_07_tuple))

    assert caught.value.message == 'invalid arguments for x.y:\n- pair[1]: "b" is not of type integer'


def test_without_schema_keyword_draft_2020_12_applies() -> None:
    prefix_items = {"type": "object", "properties": {"pair": {"prefixItems": [{"type": "string"}]}}}

    with pytest.raises(CommandError) as caught:
        validate_tool_call(RunTool("x", "y", {"pair": [1]}), single_tool(prefix_items))

    assert caught.value.message == "invalid arguments for x.y:\n- pair[0]: 1 is not of type string"


def test_local_refs_are_followed_and_remote_refs_are_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    downloads: list[object] = []

    def no_network(request: object, *args: object, **kwargs: object) -> None:
        downloads.append(request)
        raise OSError("no network in this test")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    local = {"$defs": {"N": {"type": "integer"}}, "properties": {"n": {"$ref": "#/$defs/N"}}}
    remote = {"properties": {"n": {"$ref": "https://example.com/n.json"}}}

    with pytest.raises(CommandError) as local_error:
        validate_tool_call(RunTool("x", "y", {"n": "one"}), single_tool(local))
    with pytest.raises(CommandError) as remote_error:
        validate_tool_call(RunTool("x", "y", {"n": 1}), single_tool(remote))

    assert local_error.value.message == 'invalid arguments for x.y:\n- n: "one" is not of type integer'
    assert remote_error.value == CommandError(
        "the tool x.y has an unusable input schema (Unresolvable: https://example.com/n.json)",
        "tool x.y [n=<value>]",
    )
    assert downloads == []


def test_a_broken_input_schema_is_reported_as_the_tools_fault() -> None:
    with pytest.raises(CommandError) as caught:
        validate_tool_call(RunTool("x", "y", {"n": 1}), single_tool({"properties": {"n": {"type": 5}}}))

    assert caught.value.message == (
        "the tool x.y has an unusable input schema (5 is not valid under any of the given schemas)"
    )


def test_more_than_20_problems_are_cut_short() -> None:
    schema = {"properties": {f"p{i}": {"type": "integer"} for i in range(23)}}

    with pytest.raises(CommandError) as caught:
        validate_tool_call(RunTool("x", "y", {f"p{i}": "x" for i in range(23)}), single_tool(schema))

    lines = caught.value.message.splitlines()
    assert lines[0] == "invalid arguments for x.y:"
    assert lines[1:] == [f'- p{i}: "x" is not of type integer' for i in range(20)] + ["- … and 3 more problems"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tool demo.ecko text=hi", "unknown tool 'demo.ecko'; did you mean 'demo.echo'?"),
        ("tool dmeo.echo text=hi", "unknown tool 'dmeo.echo'; did you mean 'demo.echo'?"),
        (
            "tool time.get_time",
            "unknown tool 'time.get_time'; did you mean 'time.convert_time' or 'time.get_current_time'?",
        ),
        ("tool demo.progres", "unknown tool 'demo.progres'; did you mean 'demo.progress'?"),
        ("tool nothing.here", "unknown tool 'nothing.here'; `/swarm tools` lists the tools"),
    ],
)
def test_an_unknown_tool_suggests_the_closest_tool_names(text: str, message: str) -> None:
    assert error_of(text) == CommandError(message, TOOL_USAGE)


def test_suggestions_are_at_most_three() -> None:
    catalog = {f"demo.echo{i}": ToolInfo("demo", f"echo{i}", "", {}) for i in range(6)}

    assert error_of("tool demo.echo", catalog).message == (
        "unknown tool 'demo.echo'; did you mean 'demo.echo0', 'demo.echo1' or 'demo.echo2'?"
    )


def test_a_close_tool_on_the_same_server_is_suggested_before_other_servers() -> None:
    tools = [ToolInfo(server, "echo", "", {}) for server in ("alpha", "zulu", "mine")]
    catalog = {tool.qualified_name: tool for tool in [*tools, ToolInfo("mine", "ech0", "", {})]}

    assert error_of("tool mine.ecco", catalog).message == (
        "unknown tool 'mine.ecco'; did you mean 'mine.echo', 'alpha.echo' or 'zulu.echo'?"
    )


def test_an_empty_catalog_says_no_tool_is_offered() -> None:
    assert error_of("tool demo.echo", {}) == CommandError(
        "unknown tool 'demo.echo'; no worker offers any tool right now", TOOL_USAGE
    )


def test_usage_shows_required_then_optional_arguments_with_their_defaults() -> None:
    schema = {
        "$defs": {"Mode": {"enum": ["fast", "slow"], "type": "string"}},
        "properties": {
            "mode": {"$ref": "#/$defs/Mode", "default": "fast"},
            "label": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "count": {"type": "integer"},
            "anything": {},
        },
        "required": ["count"],
    }

    assert tool_usage(ToolInfo("x", "y", "", schema)) == (
        'tool x.y count=<integer> [mode=<fast|slow> (default "fast")] '
        "[label=<string|null> (default null)] [anything=<value>]"
    )


def test_usage_of_a_tool_without_declared_properties_takes_any_key_value() -> None:
    assert tool_usage(ToolInfo("x", "y", "", {"type": "object"})) == "tool x.y [key=value ...]"
    assert tool_usage(ToolInfo("x", "y", "", {"type": "object", "additionalProperties": False})) == "tool x.y"


def test_usage_of_a_tool_that_declares_no_arguments_offers_none() -> None:
    assert tool_usage(ToolInfo("demo", "pid", "", {"type": "object", "properties": {}})) == "tool demo.pid"


def test_an_argument_the_schema_does_not_declare_is_refused_with_the_closest_name() -> None:
    assert error_of("tool demo.progress steps=1 stpes=3").message == (
        "invalid arguments for demo.progress:\n- unknown argument 'stpes'; did you mean 'steps'?"
    )


@pytest.mark.parametrize(
    ("schema", "refused"),
    [
        ({"type": "object", "properties": {"a": {}}}, True),  # silent on extras: a typo is far likelier
        ({"type": "object", "properties": {}}, True),  # a tool that takes no arguments
        ({"type": "object", "properties": {"a": {}}, "additionalProperties": True}, False),
        ({"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "integer"}}, False),
        ({"type": "object", "properties": {"a": {}}, "patternProperties": {"^x": {}}}, False),
        ({"type": "object"}, False),  # no properties at all: the schema says nothing about names
    ],
)
def test_undeclared_arguments_pass_only_where_the_schema_accepts_more(schema: dict[str, Any], refused: bool) -> None:
    call = RunTool("x", "y", {"xtra": 1})
    if refused:
        with pytest.raises(CommandError, match="unknown argument 'xtra'"):
            validate_tool_call(call, single_tool(schema))
    else:
        validate_tool_call(call, single_tool(schema))


def test_values_in_a_problem_are_written_as_json() -> None:
    schema = {"properties": {"name": {"type": "string"}, "mode": {"enum": ["fast", "safe"]}, "n": {"const": None}}}
    with pytest.raises(CommandError) as caught:
        validate_tool_call(RunTool("x", "y", {"name": True, "mode": "slow", "n": False}), single_tool(schema))
    assert caught.value.message.splitlines()[1:] == [
        "- name: true is not of type string",
        '- mode: "slow" is not one of ["fast", "safe"]',
        "- n: null was expected",
    ]
