"""The ``/swarm`` grammar: every subcommand, values, quoting, limits and the error for each mistake."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bot.commands import (
    GENERAL_USAGE,
    USAGE,
    CancelJob,
    Command,
    CommandError,
    Help,
    JobStatus,
    ListTools,
    ListWorkers,
    Login,
    RetryJob,
    RunTool,
    Subcommand,
    format_arguments,
    parse_command,
)

TOOL_USAGE = "tool SERVER.TOOL [key=value ... | {JSON}]"
UUID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def error_of(text: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("   ", Help()),
        ("/swarm", Help()),
        ("/swarm   ", Help()),
        ("help", Help()),
        ("help tool", Help("tool")),
        ("/swarm help STATUS", Help("status")),
        ("tools", ListTools()),
        ("/swarm tools", ListTools()),
        ("/SWARM Tools", ListTools()),
        ("workers", ListWorkers()),
        ("login", Login()),
        ("  /swarm\tlogin  ", Login()),
        ("tool demo.echo", RunTool("demo", "echo", {})),
        ("tool demo.echo text=hi", RunTool("demo", "echo", {"text": "hi"})),
        ("tool my-server.ns.tool_1 a=1", RunTool("my-server", "ns.tool_1", {"a": 1})),
        (f"status {UUID}", JobStatus(UUID)),
        (f"cancel {UUID}", CancelJob(UUID)),
        (f"retry {UUID}", RetryJob(UUID)),
        ("retry abcdef", RetryJob("abcdef")),
    ],
)
def test_every_subcommand_parses_to_its_command(text: str, command: Command) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("5", 5),
        ("-2.5", -2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", None),
        ("'[1, \"two\", null]'", [1, "two", None]),
        ('\'{"width": 512, "format": "png"}\'', {"width": 512, "format": "png"}),
        ("'\"42\"'", "42"),
        ('\\"quoted\\"', "quoted"),
        ("hello", "hello"),
        ("True", "True"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("{not-json}", "{not-json}"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_a_value_that_parses_as_json_is_json_else_a_plain_string(value: str, parsed: Any) -> None:
    assert parse_command(f"tool demo.echo v={value}") == RunTool("demo", "echo", {"v": parsed})


def test_values_are_quoted_like_a_shell() -> None:
    command = parse_command(
        """tool demo.echo text="hello world" single='it is "fine"' escaped=a\\ b mixed=pre"fix suf"fix"""
    )

    assert command == RunTool(
        "demo",
        "echo",
        {"text": "hello world", "single": 'it is "fine"', "escaped": "a b", "mixed": "prefix suffix"},
    )


def test_arguments_may_be_one_json_object() -> None:
    command = parse_command('/swarm tool demo.render {"prompt": "a cat", "options": {"width": 512}, "n": 2}')

    assert command == RunTool("demo", "render", {"prompt": "a cat", "options": {"width": 512}, "n": 2})


def test_a_shell_quoted_json_object_is_the_json_object_form() -> None:
    command = parse_command("""tool demo.echo '{"text": "hello world"}'""")

    assert command == RunTool("demo", "echo", {"text": "hello world"})


def test_job_refs_are_normalized_to_lowercase_dashed_prefixes() -> None:
    assert parse_command("status 1B4E28BA") == JobStatus("1b4e28ba")
    assert parse_command("status 1b4e28ba2fa1") == JobStatus("1b4e28ba-2fa1")
    assert parse_command("status 1b4e28ba-2f") == JobStatus("1b4e28ba-2f")
    assert parse_command("cancel 1b4e28ba2fa111d2883f0016d3cca427") == CancelJob(UUID)
    assert parse_command("cancel abcdef") == CancelJob("abcdef")


@pytest.mark.parametrize("ref", ["1b4e2", "1b4e28bz", "1b4e-28ba", f"{UUID}0", f"{UUID}-", "-1b4e28ba", "g" * 8])
def test_a_job_ref_must_be_a_uuid_or_a_hex_prefix_of_six_or_more(ref: str) -> None:
    assert error_of(f"status {ref}") == CommandError(
        f"'{ref}' is not a job id: give the job's UUID or at least its first 6 hex characters", "status JOB"
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("status", CommandError("'status' needs the job id", "status JOB")),
        ("cancel a1b2c3 d4e5f6", CommandError("'cancel' takes one job id, not 2 words", "cancel JOB")),
        ("retry", CommandError("'retry' needs the job id", "retry JOB")),
        ("tools all", CommandError("'tools' takes no arguments", "tools")),
        ("workers --online", CommandError("'workers' takes no arguments", "workers")),
        ("login me", CommandError("'login' takes no arguments", "login")),
        ("help tool status", CommandError("'help' takes at most one command name", "help [COMMAND]")),
        ("help tols", CommandError("there is no command 'tols'; did you mean 'tools' or 'tool'?", "help [COMMAND]")),
        (
            "tool",
            CommandError("'tool' needs the tool to run, as SERVER.TOOL (e.g. demo.echo)", TOOL_USAGE),
        ),
        (
            "tool echo text=hi",
            CommandError("'echo' is not a tool name of the form SERVER.TOOL (e.g. demo.echo)", TOOL_USAGE),
        ),
        (
            "tool demo. text=hi",
            CommandError("'demo.' is not a tool name of the form SERVER.TOOL (e.g. demo.echo)", TOOL_USAGE),
        ),
        (
            "tool demo.echo text=hello world",
            CommandError(
                "'world' is not key=value; quote values that contain spaces, e.g. text=\"hello world\"",
                TOOL_USAGE,
            ),
        ),
        (
            'tool demo.echo text="hello',
            CommandError("cannot read the arguments (no closing quotation); check the quotes", TOOL_USAGE),
        ),
        (
            "tool demo.echo text=hi text=again",
            CommandError("the argument 'text' is given twice", TOOL_USAGE),
        ),
        (
            "tool demo.echo n=1e999",
            CommandError("the value of 'n' is refused: the number 1e999 is too large", TOOL_USAGE),
        ),
        (
            """tool demo.echo o='{"a": 1, "a": 2}'""",
            CommandError("the value of 'o' is refused: the key 'a' appears twice in a JSON object", TOOL_USAGE),
        ),
    ],
)
def test_a_malformed_command_says_what_is_wrong_and_shows_the_usage(text: str, error: CommandError) -> None:
    assert error_of(text) == error


@pytest.mark.parametrize("key", ["1st", "-x", ".x", "", "a b", "ключ", "a/b", "x" * 65])
def test_argument_names_must_be_identifiers_of_at_most_64_characters(key: str) -> None:
    shown = key if len(key) <= 40 else key[:39] + "…"
    assert error_of(f"tool demo.echo '{key}=1'") == CommandError(
        f"'{shown}' is not a valid argument name: use letters, digits, '_', '.' and '-', "
        "start with a letter or '_', at most 64 characters",
        TOOL_USAGE,
    )


def test_argument_names_may_use_letters_digits_underscore_dot_and_dash() -> None:
    key = "_a" + "b.c-d_9" * 8 + "x" * 6
    assert len(key) == 64
    assert parse_command(f"tool demo.echo {key}=1") == RunTool("demo", "echo", {key: 1})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"text": "hi"} {"more": 1}', "there is more text after the JSON value (at character 16)"),
        ('{"text": "hi",}', "Expecting property name enclosed in double quotes (at character 15)"),
        ('{"n": NaN}', "NaN is not a JSON value"),
    ],
)
def test_the_json_object_form_accepts_exactly_one_valid_object(arguments: str, message: str) -> None:
    assert error_of(f"tool demo.echo {arguments}") == CommandError(
        f"the arguments are not one valid JSON object: {message}", TOOL_USAGE
    )


def test_the_json_object_form_refuses_repeated_keys_and_bad_names() -> None:
    assert error_of('tool demo.echo {"text": "a", "text": "b"}') == CommandError(
        "the JSON arguments are refused: the key 'text' appears twice in a JSON object", TOOL_USAGE
    )
    assert error_of('tool demo.echo {"bad key": 1}').message.startswith("'bad key' is not a valid argument name")


def test_json_nested_deeper_than_32_levels_is_refused() -> None:
    deep = "[" * 33 + "]" * 33
    allowed = "[" * 32 + "]" * 32
    assert parse_command(f"tool demo.echo v={allowed}") == RunTool("demo", "echo", {"v": json.loads(allowed)})
    assert error_of(f"tool demo.echo v={deep}") == CommandError(
        "the value of 'v' is refused: it is nested more than 32 levels deep", TOOL_USAGE
    )
    assert error_of("tool demo.echo v=" + "[" * 1500) == CommandError(
        "the value of 'v' is refused: it is nested more than 32 levels deep", TOOL_USAGE
    )
    assert error_of('tool demo.echo {"a": ' + "[" * 3900) == CommandError(
        "the JSON arguments are refused: it is nested more than 32 levels deep", TOOL_USAGE
    )


def test_more_than_100_arguments_are_refused_in_either_form() -> None:
    pairs = " ".join(f"k{i}={i}" for i in range(101))
    json_object = "{" + ", ".join(f'"k{i}": {i}' for i in range(101)) + "}"
    expected = CommandError("too many arguments (101); the limit is 100", TOOL_USAGE)

    assert error_of(f"tool demo.echo {pairs}") == expected
    assert error_of(f"tool demo.echo {json_object}") == expected
    hundred = parse_command(f"tool demo.echo {pairs.rsplit(' ', 1)[0]}")
    assert hundred == RunTool("demo", "echo", {f"k{i}": i for i in range(100)})


def test_text_longer_than_4000_characters_is_refused() -> None:
    at_limit = "tool demo.echo text=" + "x" * (4000 - 20)
    assert parse_command(at_limit) == RunTool("demo", "echo", {"text": "x" * 3980})
    assert error_of(at_limit + "x") == CommandError(
        "the command is 4,001 characters long; the limit is 4,000", GENERAL_USAGE
    )


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("tols", "unknown command 'tols'; did you mean 'tools' or 'tool'?"),
        ("statsu", "unknown command 'statsu'; did you mean 'status'?"),
        ("Worker", "unknown command 'Worker'; did you mean 'workers'?"),
        ("deploy", "unknown command 'deploy'; `/swarm help` lists the commands"),
        ("/swarmy", "unknown command '/swarmy'; `/swarm help` lists the commands"),
    ],
)
def test_an_unknown_subcommand_suggests_the_closest_ones(word: str, message: str) -> None:
    assert error_of(f"{word} now") == CommandError(message, GENERAL_USAGE)


def test_general_usage_names_every_subcommand() -> None:
    assert GENERAL_USAGE == "COMMAND [ARGUMENTS]  (commands: help, tools, workers, tool, status, cancel, retry, login)"
    assert set(USAGE) == set(Subcommand)


def test_formatted_arguments_parse_back_to_the_same_values() -> None:
    arguments: dict[str, Any] = {
        "text": "hello world",
        "number_as_text": "5",
        "json_looking": '{"a": 1, "a": 2}',
        "empty": "",
        "quote": "it's",
        "n": 5,
        "ratio": 0.25,
        "flag": False,
        "nothing": None,
        "nested": {"list": [1, "two words", {"deep": True}]},
    }
    text = format_arguments(arguments)

    assert text == (
        """text='hello world' number_as_text='"5"' json_looking='"{\\"a\\": 1, \\"a\\": 2}"' empty='' """
        """quote='it'"'"'s' n=5 ratio=0.25 flag=false nothing=null """
        """nested='{"list": [1, "two words", {"deep": true}]}'"""
    )
    assert parse_command(f"tool demo.echo {text}") == RunTool("demo", "echo", arguments)


_FUZZ_ALPHABET = [*"ab xyz019.=_-{}[]\"'\\:,/\t\n", "tool ", "demo.echo ", "/swarm ", "true", "é", "\u00a0"]


def test_arbitrary_text_only_ever_raises_command_error() -> None:
    rng = random.Random(20240607)
    heads = ["", "tool demo.echo ", "status ", "help ", "/swarm tool a.b ", "tool demo.echo {"]
    for _ in range(3000):
        text = rng.choice(heads) + "".join(rng.choices(_FUZZ_ALPHABET, k=rng.randint(0, 40)))
        try:
            command = parse_command(text)
        except CommandError as exc:
            assert exc.message
            assert exc.usage
        else:
            assert isinstance(command, Help | ListTools | ListWorkers | RunTool | JobStatus | CancelJob | Login)
