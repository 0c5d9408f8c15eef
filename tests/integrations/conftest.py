"""Fixtures for the MCP tests: a shared HTTP demo server per module and started pools."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from integrations.mcp.config import ServerConfig
from integrations.mcp.pool import McpPool
from tests.integrations.mcp_support import agent_config, demo_http, demo_stdio, running_demo_server


@pytest.fixture(scope="module")
def demo_http_url() -> Iterator[str]:
    """One streamable-HTTP demo server per test module (its state is shared by the module's tests)."""
    with running_demo_server("--http") as base_url:
        yield f"{base_url}/mcp"


@pytest.fixture(params=["stdio", "http"])
async def demo_pool(request: pytest.FixtureRequest) -> AsyncIterator[McpPool]:
    """A started pool whose ``demo`` server is reached over stdio or streamable HTTP."""
    if request.param == "stdio":
        server: ServerConfig = demo_stdio()
    else:
        server = demo_http(request.getfixturevalue("demo_http_url"))
    async with McpPool(agent_config(server)) as pool:
        yield pool
