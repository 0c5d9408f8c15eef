"""The agent's MCP configuration: a TOML file parsed once into frozen dataclasses.

```toml
max_concurrency = 8        # calls in flight across all servers
idle_timeout_s = 60        # a call that reports no progress for this long times out
max_call_s = 3600          # hard limit, even while the call reports progress
connect_timeout_s = 30     # starting a server and listing its tools

[servers.time]             # stdio: the pool runs the command and talks over stdin/stdout
command = "python"
args = ["-m", "mcp_server_time"]
env = { TZ = "UTC" }
cwd = "/srv/tools"
protocol = "auto"          # "auto" (try 2026-07-28, fall back) or "legacy" (2025-11-25 handshake)
safe_to_repeat = true      # a call lost with its agent may run again (or false, or { tool = true, ... });
                           # unset: the server's readOnlyHint / idempotentHint decide

[servers.search]           # HTTP: streamable HTTP by default, or the legacy SSE transport
url = "https://tools.example/mcp"
headers = { Authorization = "Bearer ..." }
transport = "streamable-http"   # or "sse"
```

A stdio server does not inherit the agent's environment: it sees ``env`` plus the SDK's safe
defaults (``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``, ``TERM``, ``USER``), so pass API keys in ``env``.

Every key is checked: one the agent does not know (a typo such as ``max_concurency`` or
``[server.git]``) is refused with its line and the closest valid name. A bad file raises
:class:`ConfigError` naming the server and key and saying what is expected.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

SERVER_NAME_RE = re.compile(r"[a-z0-9_-]{1,64}")
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_IDLE_TIMEOUT_S = 60.0
DEFAULT_MAX_CALL_S = 3600.0
DEFAULT_CONNECT_TIMEOUT_S = 30.0
MAX_CONCURRENCY_LIMIT = 1024

ProtocolMode = Literal["auto", "legacy"]
HttpTransport = Literal["streamable-http", "sse"]
_PROTOCOLS: tuple[ProtocolMode, ...] = ("auto", "legacy")
_HTTP_TRANSPORTS: tuple[HttpTransport, ...] = ("streamable-http", "sse")
_ChoiceT = TypeVar("_ChoiceT", bound=str)
_TOP_KEYS = frozenset(
    {"servers", "max_concurrency", "idle_timeout_s", "max_call_s", "connect_timeout_s", "eager_read_only"}
)
_STDIO_KEYS = frozenset({"command", "args", "env", "cwd", "protocol", "safe_to_repeat"})
_HTTP_KEYS = frozenset({"url", "headers", "transport", "protocol", "safe_to_repeat"})


class ConfigError(ValueError):
    """The agent configuration is invalid; the message names the key and what is expected."""


@dataclass(frozen=True)
class RepeatOverride:
    """The operator's word on running a server's tools again after a call's outcome was lost (its agent died
    mid-call): ``safe_to_repeat = true`` / ``false`` for every tool of the server, or a table per tool
    (``{ git_status = true, git_push = false }``). What it leaves out, the server's hints decide."""

    server: bool | None = None
    tools: Mapping[str, bool] = field(default_factory=dict)

    def of(self, tool: str) -> bool | None:
        return self.tools.get(tool, self.server)


@dataclass(frozen=True)
class StdioServerConfig:
    """A server the pool starts as a child process and talks to over stdin/stdout."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold API keys
    cwd: str | None = None
    protocol: ProtocolMode = "auto"
    repeat: RepeatOverride = field(default_factory=RepeatOverride)


@dataclass(frozen=True)
class HttpServerConfig:
    """A server the pool reaches over HTTP: streamable HTTP, or the legacy SSE transport."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold credentials
    transport: HttpTransport = "streamable-http"
    protocol: ProtocolMode = "auto"
    repeat: RepeatOverride = field(default_factory=RepeatOverride)


ServerConfig = StdioServerConfig | HttpServerConfig


@dataclass(frozen=True)
class AgentConfig:
    """Every MCP server of one agent plus the limits the pool applies to calls."""

    servers: Mapping[str, ServerConfig] = field(default_factory=dict)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    max_call_s: float = DEFAULT_MAX_CALL_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    # Start calls of read-only tools while the hub confirms the run (see jobs.agent.runner).
    eager_read_only: bool = True


def load_agent_config(path: str | Path) -> AgentConfig:
    """Read and parse the agent's TOML file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the agent configuration: {exc.strerror or exc}") from exc
    try:
        return parse_agent_config(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def parse_agent_config(text: str) -> AgentConfig:
    """Parse the agent's TOML text; a key it does not know is refused, naming its line and the closest
    valid name (a typo must not leave a setting at its default, or a server unconfigured, unnoticed)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}") from exc
    if unknown := sorted(set(data) - _TOP_KEYS):
        raise ConfigError(
            _unknown_key(text, unknown[0], _TOP_KEYS, table=None, is_table=isinstance(data[unknown[0]], dict))
        )
    servers = data.get("servers", {})
    if not isinstance(servers, dict):
        raise ConfigError("'servers' must be a table of [servers.NAME] tables")
    return AgentConfig(
        servers={name: _parse_server(name, table, text) for name, table in servers.items()},
        max_concurrency=_int(data, "max_concurrency", DEFAULT_MAX_CONCURRENCY, MAX_CONCURRENCY_LIMIT),
        idle_timeout_s=_seconds(data, "idle_timeout_s", DEFAULT_IDLE_TIMEOUT_S),
        max_call_s=_seconds(data, "max_call_s", DEFAULT_MAX_CALL_S),
        connect_timeout_s=_seconds(data, "connect_timeout_s", DEFAULT_CONNECT_TIMEOUT_S),
        eager_read_only=_bool(data, "eager_read_only", True),
    )


def _unknown_key(text: str, key: str, known: frozenset[str], *, table: str | None, is_table: bool = False) -> str:
    """``line 3: unknown key 'max_concurency'; did you mean 'max_concurrency'?`` (or the keys there are)."""
    line = _line_of(text, key, table)
    where = f"line {line}: " if line else ""
    shown = f"table [{key}]" if is_table else f"key {key!r}"
    prefix = f"{table}: " if table else ""
    matches = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    if matches:
        hint = f"did you mean [{matches[0]}]?" if is_table else f"did you mean {matches[0]!r}?"
    else:
        hint = f"expected one of {sorted(known)}"
    return f"{where}{prefix}unknown {shown}; {hint}"


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """The line where ``key`` is set (after the ``[table]`` header when given), or a table of that name opens."""
    header = re.compile(r"\s*\[\s*" + re.escape(table) + r"\s*\]") if table else None
    assignment = re.compile(r"\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
    opening = re.compile(r"\s*\[\[?\s*[\"']?" + re.escape(key) + r"[\"']?\s*[.\]]")
    inside = header is None
    for number, line in enumerate(text.splitlines(), start=1):
        if header is not None and header.match(line):
            inside = True
            continue
        if inside and (assignment.match(line) or (header is None and opening.match(line))):
            return number
    return None


def _parse_server(name: str, table: object, text: str = "") -> ServerConfig:
    if not SERVER_NAME_RE.fullmatch(name):
        raise ConfigError(f"servers.{name}: server names must match [a-z0-9_-]{{1,64}}")
    where = f"servers.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table with 'command' or 'url'")
    if ("command" in table) == ("url" in table):
        raise ConfigError(f"{where}: set exactly one of 'command' (stdio) or 'url' (HTTP)")
    allowed = _STDIO_KEYS if "command" in table else _HTTP_KEYS
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(_unknown_key(text, unknown[0], allowed, table=where))
    protocol = _choice(table, where, "protocol", _PROTOCOLS)
    repeat = _repeat(table, where)
    if "command" in table:
        return StdioServerConfig(
            name=name,
            command=_text(table, where, "command"),
            args=tuple(_str_list(table, where, "args")),
            env=_str_table(table, where, "env"),
            cwd=_text(table, where, "cwd") if "cwd" in table else None,
            protocol=protocol,
            repeat=repeat,
        )
    url = _text(table, where, "url")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: must be an http:// or https:// URL")
    return HttpServerConfig(
        name=name,
        url=url,
        headers=_str_table(table, where, "headers"),
        transport=_choice(table, where, "transport", _HTTP_TRANSPORTS),
        protocol=protocol,
        repeat=repeat,
    )


def _repeat(table: Mapping[str, Any], where: str) -> RepeatOverride:
    value = table.get("safe_to_repeat")
    if value is None:
        return RepeatOverride()
    if isinstance(value, bool):
        return RepeatOverride(server=value)
    if isinstance(value, dict) and all(isinstance(flag, bool) for flag in value.values()):
        return RepeatOverride(tools=dict(value))
    raise ConfigError(f"{where}.safe_to_repeat: must be true, false or a table of tool names to true or false")


def _text(table: Mapping[str, Any], where: str, key: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key}: must be a non-empty string")
    return value


def _str_list(table: Mapping[str, Any], where: str, key: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}.{key}: must be a list of strings")
    return value


def _str_table(table: Mapping[str, Any], where: str, key: str) -> dict[str, str]:
    value = table.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise ConfigError(f"{where}.{key}: must be a table of string values")
    return dict(value)


def _choice(table: Mapping[str, Any], where: str, key: str, choices: tuple[_ChoiceT, ...]) -> _ChoiceT:
    value = table.get(key, choices[0])
    for choice in choices:
        if value == choice:
            return choice
    raise ConfigError(f"{where}.{key}: must be one of {', '.join(repr(c) for c in choices)}")


def _int(data: Mapping[str, Any], key: str, default: int, maximum: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigError(f"{key}: must be an integer from 1 to {maximum}")
    return value


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false")
    return value


def _seconds(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ConfigError(f"{key}: must be a positive, finite number of seconds")
    return float(value)
