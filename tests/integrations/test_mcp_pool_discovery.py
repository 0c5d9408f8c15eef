"""Tool re-discovery: list-changed announcements in both protocol eras, restarts, the SSE transport."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator

import pytest

from integrations.mcp.config import HttpServerConfig, ProtocolMode, ServerConfig
from integrations.mcp.discovery import ToolSpec
from integrations.mcp.pool import McpPool
from tests.integrations.mcp_support import agent_config, demo_http, demo_stdio, free_port, running_demo_server

pytestmark = pytest.mark.timeout(30)
CHANGE_TIMEOUT_S = 10.0


class ToolChanges:
    """Records ``on_tools_changed`` calls."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, list[str]]] = asyncio.Queue()

    async def __call__(self, server: str, tools: list[ToolSpec]) -> None:
        assert all(tool.server == server for tool in tools)
        await self.queue.put((server, [tool.name for tool in tools]))

    async def next(self) -> tuple[str, list[str]]:
        return await asyncio.wait_for(self.queue.get(), CHANGE_TIMEOUT_S)


@pytest.fixture(params=["stdio", "http"])
async def fresh_demo(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """``"stdio"``, or the URL of a demo HTTP server started for this test alone."""
    if request.param == "stdio":
        yield "stdio"
        return
    with running_demo_server("--http") as base_url:
        yield f"{base_url}/mcp"


@pytest.mark.parametrize(("protocol", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_announced_tool_change_is_relisted_and_reported(
    fresh_demo: str, protocol: ProtocolMode, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="integrations.mcp.connection")
    server: ServerConfig = (
        demo_stdio(protocol=protocol) if fresh_demo == "stdio" else demo_http(fresh_demo, protocol=protocol)
    )
    changes = ToolChanges()
    async with McpPool(agent_config(server), on_tools_changed=changes) as pool:
        assert f"demo: connected ({version}," in caplog.text
        assert "extra" not in {tool.name for tool in pool.tools()["demo"]}

        await pool.call("demo", "enable_extra")

        server_name, names = await changes.next()
        assert server_name == "demo"
        assert "extra" in names
        assert [tool.name for tool in pool.tools()["demo"]] == names
        assert (await pool.call("demo", "extra", {"text": "hi"})).text == "extra: hi"
        assert changes.queue.empty()


async def test_restart_with_a_different_tool_list_is_reported() -> None:
    changes = ToolChanges()
    async with McpPool(agent_config(demo_stdio()), on_tools_changed=changes) as pool:
        await pool.call("demo", "enable_extra")
        _, with_extra = await changes.next()
        pid = (await pool.call("demo", "pid")).structured
        assert pid is not None

        os.kill(pid["result"], signal.SIGKILL)

        _, after_restart = await changes.next()
        assert set(with_extra) - set(after_restart) == {"extra"}
        assert "extra" not in {tool.name for tool in pool.tools()["demo"]}


async def test_legacy_sse_transport_serves_calls_with_progress() -> None:
    with running_demo_server("--sse") as base_url:
        server = HttpServerConfig(name="demo", url=f"{base_url}/sse", transport="sse")
        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        async with McpPool(agent_config(server)) as pool:
            outcome = await pool.call("demo", "progress", {"steps": 3, "delay_s": 0}, on_progress=on_progress)

        assert outcome.text == "completed 3 steps"
        assert progress == [1.0, 2.0, 3.0]


async def test_a_server_that_comes_up_after_a_failed_first_attempt_has_its_tools_reported() -> None:
    port = free_port()
    changes = ToolChanges()
    async with McpPool(agent_config(demo_http(f"http://127.0.0.1:{port}/mcp")), on_tools_changed=changes) as pool:
        assert pool.tools().get("demo", []) == [], "nothing listens yet: the agent registers without it"
        with running_demo_server("--http", port=port):
            server_name, names = await changes.next()
            assert server_name == "demo" and "echo" in names
