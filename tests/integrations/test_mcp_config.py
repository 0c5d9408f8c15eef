"""Parsing the agent's MCP configuration (TOML) and refusing bad files with a clear message."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from integrations.mcp.config import (
    AgentConfig,
    ConfigError,
    HttpServerConfig,
    StdioServerConfig,
    load_agent_config,
    parse_agent_config,
)

FULL_CONFIG = """
max_concurrency = 4
idle_timeout_s = 30
max_call_s = 7200.5
connect_timeout_s = 10

[servers.time]
command = "python"
args = ["-m", "mcp_server_time"]
env = { TZ = "UTC" }
cwd = "/srv/tools"

[servers.search-2]
url = "https://tools.example/mcp"
headers = { Authorization = "Bearer abc" }
protocol = "legacy"

[servers.old_sse]
url = "http://127.0.0.1:8000/sse"
transport = "sse"
"""


def test_full_config_parses_into_frozen_dataclasses() -> None:
    config = parse_agent_config(FULL_CONFIG)

    assert config == AgentConfig(
        servers={
            "time": StdioServerConfig(
                name="time",
                command="python",
                args=("-m", "mcp_server_time"),
                env={"TZ": "UTC"},
                cwd="/srv/tools",
            ),
            "search-2": HttpServerConfig(
                name="search-2",
                url="https://tools.example/mcp",
                headers={"Authorization": "Bearer abc"},
                protocol="legacy",
            ),
            "old_sse": HttpServerConfig(name="old_sse", url="http://127.0.0.1:8000/sse", transport="sse"),
        },
        max_concurrency=4,
        idle_timeout_s=30.0,
        max_call_s=7200.5,
        connect_timeout_s=10.0,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_concurrency = 1  # type: ignore[misc]


def test_secrets_in_env_and_headers_stay_out_of_reprs() -> None:
    config = parse_agent_config(FULL_CONFIG)

    assert "Bearer abc" not in repr(config)
    assert "TZ" not in repr(config.servers["time"])


def test_missing_options_take_their_defaults() -> None:
    config = parse_agent_config('[servers.a]\ncommand = "srv"\n')

    assert config == AgentConfig(servers={"a": StdioServerConfig(name="a", command="srv")})
    assert (config.max_concurrency, config.idle_timeout_s, config.max_call_s) == (8, 60.0, 3600.0)
    assert config.eager_read_only, "read-only tools start at once unless turned off"
    assert parse_agent_config("") == AgentConfig()
    assert not parse_agent_config("eager_read_only = false").eager_read_only


def test_the_operator_says_which_tools_may_run_again_after_a_lost_call() -> None:
    config = parse_agent_config(
        '[servers.git]\ncommand = "x"\nsafe_to_repeat = { git_status = true, git_push = false }\n'
        '[servers.db]\nurl = "http://h"\nsafe_to_repeat = true\n[servers.plain]\ncommand = "y"\n'
    )
    git, db, plain = (config.servers[name].repeat for name in ("git", "db", "plain"))
    assert (git.of("git_status"), git.of("git_push"), git.of("git_log")) == (True, False, None)
    assert db.of("anything") is True and plain.of("anything") is None, "unset: the server's hints decide"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("servers = 3", "'servers' must be a table"),
        ('[servers.Time]\ncommand = "x"', r"servers\.Time: server names must match \[a-z0-9_-\]\{1,64\}"),
        (f'[servers.{"a" * 65}]\ncommand = "x"', "server names must match"),
        ("[servers.a]\nargs = []", "servers.a: set exactly one of 'command' .stdio. or 'url' .HTTP."),
        ('[servers.a]\ncommand = "x"\nurl = "http://h"', "servers.a: set exactly one of"),
        ('[servers.a]\ncommand = "x"\nheaders = {}', "servers.a: unknown key 'headers'; expected one of"),
        ('[servers.a]\nurl = "http://h"\nargs = []', "servers.a: unknown key 'args'"),
        ('[servers.a]\ncommand = ""', "servers.a.command: must be a non-empty string"),
        ('[servers.a]\ncommand = "x"\nargs = "-v"', "servers.a.args: must be a list of strings"),
        ('[servers.a]\ncommand = "x"\nargs = [1]', "servers.a.args: must be a list of strings"),
        ('[servers.a]\ncommand = "x"\nenv = { A = 1 }', "servers.a.env: must be a table of string values"),
        ('[servers.a]\ncommand = "x"\ncwd = 3', "servers.a.cwd: must be a non-empty string"),
        ('[servers.a]\ncommand = "x"\nprotocol = "2026"', "servers.a.protocol: must be one of 'auto', 'legacy'"),
        ('[servers.a]\nurl = "ftp://h"', "servers.a.url: must be an http:// or https:// URL"),
        ('[servers.a]\nurl = "http://h"\ntransport = "ws"', "servers.a.transport: must be one of"),
        ('[servers.a]\nurl = "http://h"\nheaders = { X = true }', "servers.a.headers: must be a table of string"),
        ("max_concurrency = 0", "max_concurrency: must be an integer from 1 to 1024"),
        ("max_concurrency = true", "max_concurrency: must be an integer"),
        ("max_concurrency = 2.5", "max_concurrency: must be an integer"),
        ("idle_timeout_s = 0", "idle_timeout_s: must be a positive, finite number of seconds"),
        ("max_call_s = -1", "max_call_s: must be a positive"),
        ("max_call_s = inf", "max_call_s: must be a positive, finite"),
        ('connect_timeout_s = "30"', "connect_timeout_s: must be a positive"),
        ('eager_read_only = "no"', "eager_read_only: must be true or false"),
        ('[servers.a]\ncommand = "x"\nsafe_to_repeat = "yes"', "servers.a.safe_to_repeat: must be true, false or a"),
        ('[servers.a]\ncommand = "x"\nsafe_to_repeat = { t = 1 }', "servers.a.safe_to_repeat: must be true, false"),
        ("servers = [", "invalid TOML"),
        ("max_concurency = 4", r"^line 1: unknown key 'max_concurency'; did you mean 'max_concurrency'\?$"),
        ('# a comment\n[server.git]\ncommand = "x"', r"^line 2: unknown table \[server\]; did you mean \[servers\]\?$"),
        (
            '[servers.git]\ncommand = "x"\n\nargz = []',
            r"^line 4: servers.git: unknown key 'argz'; did you mean 'args'\?$",
        ),
        ('[hub]\nurl = "x"', r"^line 1: unknown table \[hub\]; expected one of \['connect_timeout_s'"),
    ],
)
def test_bad_config_is_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_agent_config(text)


def test_loading_a_file_names_it_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "agent.toml"
    good.write_text('[servers.a]\nurl = "http://127.0.0.1:1/mcp"\n', encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text("max_call_s = 0\n", encoding="utf-8")

    assert load_agent_config(good).servers == {"a": HttpServerConfig(name="a", url="http://127.0.0.1:1/mcp")}
    with pytest.raises(ConfigError, match=r"bad\.toml: max_call_s: must be a positive"):
        load_agent_config(bad)
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read the agent configuration"):
        load_agent_config(tmp_path / "missing.toml")
