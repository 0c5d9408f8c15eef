"""Usage lines and help text of every subcommand (without the ``/swarm`` prefix, which adapters add)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.commands.errors import did_you_mean
from bot.commands.model import Subcommand

USAGE: Final[Mapping[Subcommand, str]] = {
    Subcommand.HELP: "help [COMMAND]",
    Subcommand.TOOLS: "tools",
    Subcommand.WORKERS: "workers",
    Subcommand.TOOL: "tool SERVER.TOOL [key=value ... | {JSON}]",
    Subcommand.STATUS: "status JOB",
    Subcommand.CANCEL: "cancel JOB",
    Subcommand.RETRY: "retry JOB",
    Subcommand.LOGIN: "login",
}

GENERAL_USAGE: Final = "COMMAND [ARGUMENTS]  (commands: " + ", ".join(Subcommand) + ")"

_SUMMARY: Final[Mapping[Subcommand, str]] = {
    Subcommand.HELP: "Show this help, or the help of one command.",
    Subcommand.TOOLS: "List the tools the workers offer.",
    Subcommand.WORKERS: "List the workers and whether they are online.",
    Subcommand.TOOL: "Run a tool; its progress and result appear in this thread.",
    Subcommand.STATUS: "Show the state of a job.",
    Subcommand.CANCEL: "Cancel a queued or running job.",
    Subcommand.RETRY: "Run a job that failed, timed out or was cancelled once more.",
    Subcommand.LOGIN: "Link your chat account to GarageSwarm.",
}

_JOB_DETAILS: Final = "JOB is the job's id, or its first 6 or more hex characters when no other job starts with them."

_DETAILS: Final[Mapping[Subcommand, str]] = {
    Subcommand.HELP: "Examples:\n  /swarm help\n  /swarm help tool",
    Subcommand.TOOL: (
        "Arguments are key=value pairs. A value that is valid JSON is used as JSON (numbers, true,\n"
        'false, null, objects, arrays, "quoted strings"); anything else is a plain string. Quote\n'
        "values that contain spaces as a shell would. Instead of key=value pairs you may give exactly\n"
        "one JSON object. `/swarm tools` lists the tools and their arguments.\n"
        "\n"
        "Examples:\n"
        '  /swarm tool demo.echo text="hello world"\n'
        "  /swarm tool demo.progress steps=5\n"
        '  /swarm tool demo.echo {"text": "hello"}'
    ),
    Subcommand.STATUS: _JOB_DETAILS + "\n\nExample:\n  /swarm status 1b4e28ba",
    Subcommand.CANCEL: _JOB_DETAILS + "\n\nExample:\n  /swarm cancel 1b4e28ba",
    Subcommand.RETRY: (
        _JOB_DETAILS + "\n\nA job whose agent was lost while its tool was running is not retried by itself when\n"
        "the tool may not be safe to repeat: check what the tool did, then retry it here.\n\n"
        "Example:\n  /swarm retry 1b4e28ba"
    ),
}


def help_text(topic: str | None = None) -> str:
    """Return the help for ``topic`` (a subcommand), or the overview of every subcommand."""
    if topic is None:
        return _overview()
    try:
        command = Subcommand(topic.lower())
    except ValueError:
        hint = did_you_mean(topic, Subcommand)
        first = f"There is no command '{topic}'" + (f"; {hint}" if hint else ".")
        return first + "\n\n" + _overview()
    parts = [f"Usage: /swarm {USAGE[command]}", _SUMMARY[command]]
    if command in _DETAILS:
        parts.append(_DETAILS[command])
    return "\n\n".join(parts)


def _overview() -> str:
    width = max(len(line) for line in USAGE.values()) + 2
    rows = [f"  {USAGE[command]:<{width}}{_SUMMARY[command]}" for command in Subcommand]
    return "\n".join(
        [
            "Usage: /swarm COMMAND [ARGUMENTS]",
            "",
            *rows,
            "",
            "`/swarm help COMMAND` shows the details of one command.",
        ]
    )
