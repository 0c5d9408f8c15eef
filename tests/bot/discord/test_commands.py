"""The /swarm application command: its definition, and interactions turned back into /swarm text."""

from __future__ import annotations

from typing import Any

import pytest

from bot.commands import (
    CancelJob,
    Command,
    CommandError,
    Help,
    JobStatus,
    ListTools,
    ListWorkers,
    RetryJob,
    RunTool,
    parse_command,
)
from bot.discord.commands import (
    InteractionDataError,
    application_commands,
    autocomplete_choices,
    command_text,
    focused_option,
)

JOB_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def interaction_data(subcommand: str, **options: str) -> dict[str, Any]:
    """The ``data`` of an APPLICATION_COMMAND interaction, as Discord sends it."""
    sub: dict[str, Any] = {"type": 1, "name": subcommand}
    if options:
        sub["options"] = [{"type": 3, "name": name, "value": value} for name, value in options.items()]
    return {"id": "1200000000000000001", "name": "swarm", "type": 1, "options": [sub]}


def status_with(options: list[Any]) -> dict[str, Any]:
    return {"name": "swarm", "options": [{"type": 1, "name": "status", "options": options}]}


def test_the_swarm_command_definition() -> None:
    job = {"type": 3, "name": "job", "required": True}
    job["description"] = "The job id, or its first 6 or more hex characters"
    topics = [
        {"name": name, "value": name} for name in ("tool", "tools", "workers", "status", "cancel", "retry", "help")
    ]

    assert application_commands() == [
        {
            "type": 1,
            "name": "swarm",
            "description": "Run AI tools on your GarageSwarm workers",
            "options": [
                {
                    "type": 1,
                    "name": "tool",
                    "description": "Run a tool; its progress and result appear in this channel",
                    "options": [
                        {
                            "type": 3,
                            "name": "name",
                            "description": "The tool, as SERVER.TOOL (e.g. demo.echo)",
                            "required": True,
                            "autocomplete": True,
                        },
                        {
                            "type": 3,
                            "name": "args",
                            "description": "key=value pairs (quote values with spaces) or one JSON object",
                            "required": False,
                        },
                    ],
                },
                {"type": 1, "name": "tools", "description": "List the tools the workers offer", "options": []},
                {
                    "type": 1,
                    "name": "workers",
                    "description": "List the workers and whether they are online",
                    "options": [],
                },
                {"type": 1, "name": "status", "description": "Show the state of a job", "options": [job]},
                {"type": 1, "name": "cancel", "description": "Cancel a queued or running job", "options": [job]},
                {
                    "type": 1,
                    "name": "retry",
                    "description": "Run a job that failed, timed out or was cancelled once more",
                    "options": [job],
                },
                {
                    "type": 1,
                    "name": "help",
                    "description": "Show the help, or the help of one command",
                    "options": [
                        {
                            "type": 3,
                            "name": "topic",
                            "description": "The command to explain",
                            "required": False,
                            "choices": topics,
                        }
                    ],
                },
            ],
        }
    ]


@pytest.mark.parametrize(
    ("data", "text", "command"),
    [
        (
            interaction_data("tool", name="demo.echo", args='text="hello world"'),
            '/swarm tool demo.echo text="hello world"',
            RunTool("demo", "echo", {"text": "hello world"}),
        ),
        (
            interaction_data("tool", name="demo.echo", args='{"text": "hi"}'),
            '/swarm tool demo.echo {"text": "hi"}',
            RunTool("demo", "echo", {"text": "hi"}),
        ),
        (interaction_data("tool", name="demo.progress"), "/swarm tool demo.progress", RunTool("demo", "progress")),
        (interaction_data("tool", name="demo.echo", args=""), "/swarm tool demo.echo", RunTool("demo", "echo")),
        (interaction_data("tools"), "/swarm tools", ListTools()),
        (interaction_data("workers"), "/swarm workers", ListWorkers()),
        (interaction_data("status", job="1B4E28BA"), "/swarm status 1B4E28BA", JobStatus("1b4e28ba")),
        (interaction_data("cancel", job=JOB_ID), f"/swarm cancel {JOB_ID}", CancelJob(JOB_ID)),
        (interaction_data("retry", job=JOB_ID), f"/swarm retry {JOB_ID}", RetryJob(JOB_ID)),
        (interaction_data("help"), "/swarm help", Help()),
        (interaction_data("help", topic="tool"), "/swarm help tool", Help("tool")),
    ],
)
def test_a_slash_command_becomes_the_text_the_parser_reads(data: dict[str, Any], text: str, command: Command) -> None:
    assert command_text(data) == text
    assert parse_command(command_text(data)) == command


def test_options_are_read_in_the_defined_order_whatever_order_discord_sends() -> None:
    data = interaction_data("tool", args="steps=3", name="demo.progress")

    assert command_text(data) == "/swarm tool demo.progress steps=3"


def test_single_values_stay_one_word_so_the_parser_explains_the_mistake() -> None:
    with pytest.raises(CommandError, match="'1b4e28ba 77' is not a job id"):
        parse_command(command_text(interaction_data("status", job="1b4e28ba 77")))
    with pytest.raises(CommandError, match="is not a tool name"):
        parse_command(command_text(interaction_data("tool", name="demo.echo text=sneaky")))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"name": "other", "type": 1, "options": []}, "not the /swarm slash command"),
        ({"name": "swarm", "type": 2, "options": []}, "not the /swarm slash command"),
        ({"name": "swarm", "type": 1}, "exactly one subcommand"),
        ({"name": "swarm", "type": 1, "options": [{"type": 1, "name": "login"}]}, "unknown subcommand 'login'"),
        ({"name": "swarm", "type": 1, "options": [{"type": 3, "name": "tools"}]}, "unknown subcommand"),
        ({"name": "swarm", "type": 1, "options": [{"type": 1, "name": ["tools"]}]}, "unknown subcommand"),
        (interaction_data("tools", job="1b4e28ba"), "unknown option for 'tools'"),
        (interaction_data("status", topic="x"), "unknown option for 'status'"),
        (status_with([{"type": 4, "name": "job", "value": 7}]), "option 'job' must be a string"),
        (status_with([{"type": 3, "name": "job", "value": "a"}] * 2), "option 'job' is given twice"),
        (status_with(["job"]), "unknown option for 'status'"),
    ],
)
def test_interaction_data_we_did_not_define_is_refused(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(InteractionDataError, match=problem):
        command_text(data)


def test_the_focused_option_of_an_autocomplete_interaction() -> None:
    data = interaction_data("tool", name="dem", args="x=1")
    data["options"][0]["options"][0]["focused"] = True

    assert focused_option(data) == ("name", "dem")
    assert focused_option(interaction_data("tool", name="dem")) is None


TOOLS = ["demo.echo", "demo.progress", "time.get_current_time", "time.convert_time", "comfy.echo_image"]


@pytest.mark.parametrize(
    ("prefix", "names"),
    [
        ("", ["comfy.echo_image", "demo.echo", "demo.progress", "time.convert_time", "time.get_current_time"]),
        ("demo", ["demo.echo", "demo.progress"]),
        ("ECHO", ["comfy.echo_image", "demo.echo"]),
        ("time.", ["time.convert_time", "time.get_current_time"]),
        ("o.e", ["demo.echo"]),
        ("nothing", []),
    ],
)
def test_autocomplete_offers_names_starting_with_then_containing_the_prefix(prefix: str, names: list[str]) -> None:
    assert autocomplete_choices(prefix, TOOLS) == [{"name": name, "value": name} for name in names]


def test_names_starting_with_the_prefix_come_first() -> None:
    choices = autocomplete_choices("echo", ["demo.echo", "echo.say", "a.echo"])

    assert [choice["value"] for choice in choices] == ["echo.say", "a.echo", "demo.echo"]


def test_autocomplete_offers_at_most_25_choices_of_at_most_100_characters() -> None:
    names = [f"srv.tool{i:03}" for i in range(40)] + ["srv." + "t" * 120, "srv.tool000"]
    choices = autocomplete_choices("srv", names)

    assert len(choices) == 25
    assert choices[0] == {"name": "srv.tool000", "value": "srv.tool000"}
    assert all(len(choice["name"]) <= 100 and choice["name"] == choice["value"] for choice in choices)
    assert len({choice["value"] for choice in choices}) == 25
