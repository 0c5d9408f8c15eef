"""The pool against the real ``mcp-server-time`` over stdio."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from integrations.mcp.config import StdioServerConfig
from integrations.mcp.pool import McpPool
from tests.integrations.mcp_support import agent_config

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def time_pool() -> AsyncIterator[McpPool]:
    server = StdioServerConfig(name="time", command=sys.executable, args=("-m", "mcp_server_time"))
    async with McpPool(agent_config(server)) as pool:
        yield pool


async def test_current_time_in_utc_is_returned_as_structured_content(time_pool: McpPool) -> None:
    outcome = await time_pool.call("time", "get_current_time", {"timezone": "UTC"})

    assert not outcome.is_error
    assert outcome.structured is not None
    assert outcome.structured["timezone"] == "UTC"
    assert datetime.fromisoformat(outcome.structured["datetime"]).utcoffset() is not None
    assert '"timezone": "UTC"' in outcome.text
    assert {tool.name for tool in time_pool.tools()["time"]} == {"get_current_time", "convert_time"}
    assert all(tool.read_only for tool in time_pool.tools()["time"]), "the server marks both readOnlyHint"


async def test_unknown_timezone_is_a_tool_error(time_pool: McpPool) -> None:
    outcome = await time_pool.call("time", "get_current_time", {"timezone": "Mars/Olympus_Mons"})

    assert outcome.is_error
    assert outcome.structured is None
    assert "Invalid timezone" in outcome.text
