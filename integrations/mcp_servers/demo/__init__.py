"""The demo MCP server (``python -m integrations.mcp_servers.demo``); see :mod:`.server`."""

from integrations.mcp_servers.demo.server import create_server

__all__ = ["create_server"]
