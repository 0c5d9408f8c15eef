"""The ``/swarm`` application command: its definition for Discord, and its interactions back to ``/swarm ...`` text.

Discord sends a slash command as structured options; we turn them into the same text a Slack or console user
types, so that ``bot.commands.parse_command`` stays the one parser.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any, Final

from bot.commands import Subcommand

COMMAND_NAME: Final = "swarm"
MAX_AUTOCOMPLETE_CHOICES: Final = 25
MAX_CHOICE_CHARS: Final = 100


class OptionType(IntEnum):
    """Application command option types we use."""

    SUB_COMMAND = 1
    STRING = 3


class CommandType(IntEnum):
    """Application command types; ``/swarm`` is a slash command (CHAT_INPUT)."""

    CHAT_INPUT = 1


class InteractionDataError(ValueError):
    """An interaction's ``data`` is not a ``/swarm`` command we defined."""


def _string(name: str, description: str, *, required: bool, **extra: Any) -> dict[str, Any]:
    return {"type": int(OptionType.STRING), "name": name, "description": description, "required": required, **extra}


def _subcommand(name: Subcommand, description: str, *options: dict[str, Any]) -> dict[str, Any]:
    kind = int(OptionType.SUB_COMMAND)
    return {"type": kind, "name": str(name), "description": description, "options": list(options)}


def application_commands() -> list[dict[str, Any]]:
    """The body for ``PUT /applications/{id}/commands`` (or the guild variant): the ``/swarm`` command."""
    job = _string("job", "The job id, or its first 6 or more hex characters", required=True)
    topic_choices = [{"name": str(command), "value": str(command)} for command in _HELP_TOPICS]
    subcommands = [
        _subcommand(
            Subcommand.TOOL,
            "Run a tool; its progress and result appear in this channel",
            _string("name", "The tool, as SERVER.TOOL (e.g. demo.echo)", required=True, autocomplete=True),
            _string("args", "key=value pairs (quote values with spaces) or one JSON object", required=False),
        ),
        _subcommand(Subcommand.TOOLS, "List the tools the workers offer"),
        _subcommand(Subcommand.WORKERS, "List the workers and whether they are online"),
        _subcommand(Subcommand.STATUS, "Show the state of a job", job),
        _subcommand(Subcommand.CANCEL, "Cancel a queued or running job", job),
        _subcommand(Subcommand.RETRY, "Run a job that failed, timed out or was cancelled once more", job),
        _subcommand(
            Subcommand.HELP,
            "Show the help, or the help of one command",
            _string("topic", "The command to explain", required=False, choices=topic_choices),
        ),
    ]
    return [
        {
            "type": int(CommandType.CHAT_INPUT),
            "name": COMMAND_NAME,
            "description": "Run AI tools on your GarageSwarm workers",
            "options": subcommands,
        }
    ]


def command_text(interaction_data: Mapping[str, Any]) -> str:
    """Turn an APPLICATION_COMMAND interaction's ``data`` into ``/swarm ...`` text; raise InteractionDataError."""
    subcommand, options = _subcommand_options(interaction_data)
    words = [f"/{COMMAND_NAME}", str(subcommand)]
    for name in _OPTION_ORDER[subcommand]:
        value = options.get(name)
        if value is None:
            continue
        # ``args`` is the user's own argument text; single values are quoted so they stay one word.
        words.append(value if name == "args" else shlex.quote(value))
    return " ".join(word for word in words if word)


def focused_option(interaction_data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The ``(name, value so far)`` of the option being typed in an autocomplete interaction, or None."""
    _, options = _subcommand_options(interaction_data, focused=True)
    return next(iter(options.items()), None)


def autocomplete_choices(prefix: str, tool_names: Iterable[str]) -> list[dict[str, str]]:
    """Up to 25 ``{"name", "value"}`` choices: names starting with ``prefix`` first, then names containing it."""
    wanted = prefix.strip().lower()
    names = sorted({name for name in tool_names if 0 < len(name) <= MAX_CHOICE_CHARS})
    starting = [name for name in names if name.lower().startswith(wanted)]
    containing = [name for name in names if wanted in name.lower() and name not in starting]
    return [{"name": name, "value": name} for name in (starting + containing)[:MAX_AUTOCOMPLETE_CHOICES]]


def _subcommand_options(data: Mapping[str, Any], *, focused: bool = False) -> tuple[Subcommand, dict[str, str]]:
    """The subcommand and its string options (only the focused one when ``focused``), checked against our definition."""
    if data.get("name") != COMMAND_NAME or data.get("type", CommandType.CHAT_INPUT) != CommandType.CHAT_INPUT:
        raise InteractionDataError(f"not the /{COMMAND_NAME} slash command: {str(data.get('name'))[:40]!r}")
    top = data.get("options")
    if not isinstance(top, list) or len(top) != 1 or not isinstance(top[0], Mapping):
        raise InteractionDataError("expected exactly one subcommand")
    sub = top[0]
    name = sub.get("name")
    if sub.get("type") != OptionType.SUB_COMMAND or not isinstance(name, str) or name not in _OPTION_ORDER:
        raise InteractionDataError(f"unknown subcommand {str(name)[:40]!r}")
    subcommand = Subcommand(name)
    options: dict[str, str] = {}
    for option in sub.get("options") or []:
        if not isinstance(option, Mapping) or option.get("name") not in _OPTION_ORDER[subcommand]:
            raise InteractionDataError(f"unknown option for '{subcommand}'")
        if option.get("type") != OptionType.STRING or not isinstance(option.get("value"), str):
            raise InteractionDataError(f"option '{option['name']}' must be a string")
        if option["name"] in options:
            raise InteractionDataError(f"option '{option['name']}' is given twice")
        if not focused or option.get("focused") is True:
            options[option["name"]] = option["value"]
    return subcommand, options


_OPTION_ORDER: Final[Mapping[Subcommand, tuple[str, ...]]] = {
    Subcommand.TOOL: ("name", "args"),
    Subcommand.TOOLS: (),
    Subcommand.WORKERS: (),
    Subcommand.STATUS: ("job",),
    Subcommand.CANCEL: ("job",),
    Subcommand.RETRY: ("job",),
    Subcommand.HELP: ("topic",),
}
_HELP_TOPICS: Final = tuple(_OPTION_ORDER)
