"""`garageswarm agent` refuses a missing setting or a faulty configuration file at once, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _agent(
    tmp_path: Path, config: str | None, hub: str = "http://127.0.0.1:9", **env: str
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "hub.cli", "agent", "--hub", hub]
    if config is not None:
        path = tmp_path / "agent.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    base = {"GARAGESWARM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    return subprocess.run(args, env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("config", "message"),
    [("[servers.x\ncommand = 'a'", "invalid TOML: Expected ']'"),
     ("[servers.x]\nurl = 'ftp://x'\n", "servers.x.url: must be an http:// or https:// URL"),
     ("[servers.x]\ncommand = 'a'\nurl = 'http://x'\n", "set exactly one of 'command' (stdio) or 'url' (HTTP)"),
     ("max_concurency = 4\n", "line 1: unknown key 'max_concurency'; did you mean 'max_concurrency'?"),
     ("[server.git]\ncommand = 'git'\n", "line 1: unknown table [server]; did you mean [servers]?")],
)  # fmt: skip
def test_a_faulty_configuration_is_refused_in_one_line(tmp_path: Path, config: str, message: str) -> None:
    result = _agent(tmp_path, config, GARAGESWARM_API_KEY="gsw_abc_def", REDIS_URL="redis://127.0.0.1:9/0")

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("garageswarm agent: ") and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_settings_are_named(tmp_path: Path) -> None:
    result = _agent(tmp_path, None)

    assert result.returncode == 2
    assert "missing --api-key / GARAGESWARM_API_KEY, --config / GARAGESWARM_AGENT_CONFIG, REDIS_URL" in result.stderr


async def test_a_key_the_hub_refuses_stops_the_agent_in_one_line(
    hub_client: Any, redis_url: str, tmp_path: Path
) -> None:
    import asyncio

    hub_url = str(hub_client.make_url("")).rstrip("/")
    env = {"GARAGESWARM_API_KEY": "gsw_aaaaaaaaaaaa_not-a-key", "REDIS_URL": redis_url}
    result = await asyncio.to_thread(_agent, tmp_path, "max_concurrency = 2\n", hub=hub_url, **env)

    assert result.returncode == 1
    assert "garageswarm agent: the hub refused this agent (hub answered 401" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_stops_an_agent_that_is_still_waiting_for_the_hub(tmp_path: Path) -> None:
    import signal
    import time

    config = tmp_path / "agent.toml"
    config.write_text("max_concurrency = 2\n")
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "GARAGESWARM_API_KEY": "gsw_abc_def",
           "REDIS_URL": "redis://127.0.0.1:9/0"}  # fmt: skip
    args = [sys.executable, "-m", "hub.cli", "agent", "--hub", "http://127.0.0.1:9", "--config", str(config)]
    agent = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert agent.stderr is not None
        deadline = time.monotonic() + 30
        while "hub unreachable; retrying" not in agent.stderr.readline():
            assert time.monotonic() < deadline, "the agent never tried the hub"
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=10) == 0, "SIGTERM must stop it although the hub never answered"
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()


async def test_an_agent_that_offers_no_tools_says_so_at_start_up(
    hub_client: Any, agent_keys: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    import asyncio
    import signal

    config = tmp_path / "agent.toml"
    config.write_text("max_concurrency = 2\n")
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "GARAGESWARM_API_KEY": agent_keys["worker"],
           "REDIS_URL": redis_url, "LOG_LEVEL": "ERROR"}  # fmt: skip
    args = [sys.executable, "-m", "hub.cli", "agent", "--hub", str(hub_client.make_url("")).rstrip("/"),
            "--config", str(config)]  # fmt: skip
    agent = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert agent.stderr is not None
        said = await asyncio.to_thread(agent.stderr.readline)
        assert said == (f"garageswarm agent: warning: {config} configures no MCP server (add a [servers.NAME] "
                        "table): this agent offers no tools\n")  # fmt: skip
    finally:
        agent.send_signal(signal.SIGTERM)
        await asyncio.to_thread(agent.wait, 15)
