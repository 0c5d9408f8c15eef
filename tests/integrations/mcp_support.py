"""Helpers for the MCP tests: real demo servers over stdio, streamable HTTP and SSE, and polling."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from integrations.mcp.config import AgentConfig, HttpServerConfig, ProtocolMode, ServerConfig, StdioServerConfig
from integrations.mcp.pool import McpPool

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 20.0
T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_stdio(name: str = "demo", protocol: ProtocolMode = "auto") -> StdioServerConfig:
    """The demo server as a stdio child process."""
    return StdioServerConfig(
        name=name,
        command=sys.executable,
        args=("-m", "integrations.mcp_servers.demo", "--log-level", "WARNING"),
        cwd=str(REPO_ROOT),
        protocol=protocol,
    )


def agent_config(*servers: ServerConfig, **options: Any) -> AgentConfig:
    """An agent configuration holding ``servers`` (tests use short timeouts through ``options``)."""
    return AgentConfig(servers={server.name: server for server in servers}, **options)


def demo_http(url: str, name: str = "demo", protocol: ProtocolMode = "auto") -> HttpServerConfig:
    """The demo server over streamable HTTP at ``url``."""
    return HttpServerConfig(name=name, url=url, protocol=protocol)


@contextmanager
def running_demo_server(flag: Literal["--http", "--sse"] = "--http", port: int | None = None) -> Iterator[str]:
    """Run the demo server over HTTP on a loopback port (a free one by default); yields its base URL."""
    port = port or free_port()
    command = [sys.executable, "-m", "integrations.mcp_servers.demo", flag, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "WARNING"]
    process = subprocess.Popen(command, cwd=REPO_ROOT)
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"demo server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"demo server did not listen on port {port}")


async def eventually(attempt: Callable[[], Awaitable[T]], *, timeout_s: float = 10.0) -> T:
    """Retry ``attempt`` until it returns without raising, or re-raise its error after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await attempt()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def demo_stats(pool: McpPool, server: str = "demo") -> dict[str, Any]:
    """The demo server's counters."""
    outcome = await pool.call(server, "stats")
    assert outcome.structured is not None
    return outcome.structured


async def wait_for_stats(
    pool: McpPool, check: Callable[[dict[str, Any]], bool], *, server: str = "demo", timeout_s: float = 5.0
) -> dict[str, Any]:
    """Poll the demo server's counters until ``check`` holds."""

    async def attempt() -> dict[str, Any]:
        stats = await demo_stats(pool, server)
        if not check(stats):
            raise AssertionError(f"demo stats not reached yet: {stats}")
        return stats

    return await eventually(attempt, timeout_s=timeout_s)
