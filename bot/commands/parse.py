"""``parse_command``: the text after ``/swarm`` to a :data:`Command`, the same for every platform."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any, Final

from bot.commands.errors import CommandError, did_you_mean
from bot.commands.model import (
    CancelJob,
    Command,
    Help,
    JobStatus,
    ListTools,
    ListWorkers,
    Login,
    RetryJob,
    RunTool,
    Subcommand,
)
from bot.commands.usage import GENERAL_USAGE, USAGE
from bot.commands.values import InvalidJson, RefusedJson, decode_json

MAX_COMMAND_CHARS: Final = 4_000
MAX_ARGUMENTS: Final = 100
MIN_JOB_PREFIX: Final = 6
KEY_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
SERVER_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOOL_PATTERN: Final = re.compile(r"[A-Za-z0-9_.-]{1,128}")

_PREFIX: Final = re.compile(r"\s*/swarm(?=\s|$)", re.IGNORECASE)
_FIRST_WORD: Final = re.compile(r"\s*(\S+)\s*(.*)", re.DOTALL)
_UUID_SHAPE: Final = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_UUID_DASHES: Final = (8, 12, 16, 20)
_HEX: Final = frozenset("0123456789abcdef")
_SHOWN_CHARS: Final = 40
_TOOL_USAGE: Final = USAGE[Subcommand.TOOL]


def parse_command(text: str) -> Command:
    """Parse the text of a ``/swarm`` command (the ``/swarm`` itself is optional); raise CommandError."""
    if len(text) > MAX_COMMAND_CHARS:
        raise CommandError(
            f"the command is {len(text):,} characters long; the limit is {MAX_COMMAND_CHARS:,}",
            GENERAL_USAGE,
        )
    prefix = _PREFIX.match(text)
    head = _FIRST_WORD.fullmatch(text[prefix.end() :] if prefix else text)
    if head is None:
        return Help()
    word, rest = head.groups()
    try:
        subcommand = Subcommand(word.lower())
    except ValueError:
        hint = did_you_mean(word.lower(), Subcommand) or "`/swarm help` lists the commands"
        raise CommandError(f"unknown command {_shown(word)}; {hint}", GENERAL_USAGE) from None
    return _PARSERS[subcommand](rest)


def normalize_job_ref(ref: str) -> str | None:
    """Return ``ref`` as a lowercase, dashed UUID or UUID prefix (6+ hex digits), or None if it is not one."""
    ref = ref.lower()
    if "-" in ref:
        if len(ref) > len(_UUID_SHAPE):
            return None
        if any((shape == "-") != (char == "-") for char, shape in zip(ref, _UUID_SHAPE, strict=False)):
            return None
    digits = ref.replace("-", "")
    if not MIN_JOB_PREFIX <= len(digits) <= 32 or not set(digits) <= _HEX:
        return None
    return "".join(("-" + char if index in _UUID_DASHES else char) for index, char in enumerate(digits))


def _parse_help(rest: str) -> Command:
    words = _words(rest, Subcommand.HELP)
    if not words:
        return Help()
    if len(words) > 1:
        raise CommandError("'help' takes at most one command name", USAGE[Subcommand.HELP])
    try:
        return Help(Subcommand(words[0].lower()).value)
    except ValueError:
        hint = did_you_mean(words[0].lower(), Subcommand) or "`/swarm help` lists the commands"
        raise CommandError(f"there is no command {_shown(words[0])}; {hint}", USAGE[Subcommand.HELP]) from None


def _no_arguments(subcommand: Subcommand, command: Command) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        if rest.strip():
            raise CommandError(f"'{subcommand}' takes no arguments", USAGE[subcommand])
        return command

    return parse


def _job_parser(subcommand: Subcommand, make: Callable[[str], Command]) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        usage = USAGE[subcommand]
        words = _words(rest, subcommand)
        if len(words) != 1:
            problem = "needs the job id" if not words else f"takes one job id, not {len(words)} words"
            raise CommandError(f"'{subcommand}' {problem}", usage)
        job_ref = normalize_job_ref(words[0])
        if job_ref is None:
            raise CommandError(
                f"{_shown(words[0])} is not a job id: give the job's UUID or at least its first "
                f"{MIN_JOB_PREFIX} hex characters",
                usage,
            )
        return make(job_ref)

    return parse


def _parse_tool(rest: str) -> Command:
    head = _FIRST_WORD.fullmatch(rest)
    if head is None:
        raise CommandError("'tool' needs the tool to run, as SERVER.TOOL (e.g. demo.echo)", _TOOL_USAGE)
    name, arguments_text = head.groups()
    server, dot, tool = name.partition(".")
    if not (dot and SERVER_PATTERN.fullmatch(server) and TOOL_PATTERN.fullmatch(tool)):
        raise CommandError(f"{_shown(name)} is not a tool name of the form SERVER.TOOL (e.g. demo.echo)", _TOOL_USAGE)
    if arguments_text.startswith("{"):
        return RunTool(server, tool, _json_object_arguments(arguments_text))
    words = _words(arguments_text, Subcommand.TOOL)
    if len(words) == 1 and words[0].startswith("{"):  # the JSON object, quoted as for a shell
        return RunTool(server, tool, _json_object_arguments(words[0]))
    return RunTool(server, tool, _pair_arguments(words))


def _json_object_arguments(text: str) -> dict[str, Any]:
    try:
        value = decode_json(text)
    except InvalidJson as exc:
        raise CommandError(f"the arguments are not one valid JSON object: {exc}", _TOOL_USAGE) from None
    except RefusedJson as exc:
        raise CommandError(f"the JSON arguments are refused: {exc}", _TOOL_USAGE) from None
    if not isinstance(value, dict):  # unreachable for text starting with "{", kept for the type checker
        raise CommandError("the arguments must be one JSON object", _TOOL_USAGE)
    _check_count(len(value))
    for key in value:
        _check_key(key)
    return value


def _pair_arguments(words: list[str]) -> dict[str, Any]:
    _check_count(len(words))
    arguments: dict[str, Any] = {}
    for word in words:
        key, equals, raw = word.partition("=")
        if not equals:
            raise CommandError(
                f'{_shown(word)} is not key=value; quote values that contain spaces, e.g. text="hello world"',
                _TOOL_USAGE,
            )
        _check_key(key)
        if key in arguments:
            raise CommandError(f"the argument '{key}' is given twice", _TOOL_USAGE)
        arguments[key] = _value(key, raw)
    return arguments


def _value(key: str, raw: str) -> Any:
    try:
        return decode_json(raw)
    except InvalidJson:
        return raw
    except RefusedJson as exc:
        raise CommandError(f"the value of '{key}' is refused: {exc}", _TOOL_USAGE) from None


def _check_count(count: int) -> None:
    if count > MAX_ARGUMENTS:
        raise CommandError(f"too many arguments ({count}); the limit is {MAX_ARGUMENTS}", _TOOL_USAGE)


def _check_key(key: str) -> None:
    if not KEY_PATTERN.fullmatch(key):
        raise CommandError(
            f"{_shown(key)} is not a valid argument name: use letters, digits, '_', '.' and '-', "
            "start with a letter or '_', at most 64 characters",
            _TOOL_USAGE,
        )


def _words(text: str, subcommand: Subcommand) -> list[str]:
    """Split like a POSIX shell (quotes and backslashes), without comments."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise CommandError(
            f"cannot read the arguments ({str(exc).lower()}); check the quotes", USAGE[subcommand]
        ) from None


def _shown(text: str) -> str:
    """Quote user text for a message, shortened so that a long paste does not flood the thread."""
    short = text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
    return f"'{short}'"


_PARSERS: Final[dict[Subcommand, Callable[[str], Command]]] = {
    Subcommand.HELP: _parse_help,
    Subcommand.TOOLS: _no_arguments(Subcommand.TOOLS, ListTools()),
    Subcommand.WORKERS: _no_arguments(Subcommand.WORKERS, ListWorkers()),
    Subcommand.TOOL: _parse_tool,
    Subcommand.STATUS: _job_parser(Subcommand.STATUS, JobStatus),
    Subcommand.RETRY: _job_parser(Subcommand.RETRY, RetryJob),
    Subcommand.CANCEL: _job_parser(Subcommand.CANCEL, CancelJob),
    Subcommand.LOGIN: _no_arguments(Subcommand.LOGIN, Login()),
}
