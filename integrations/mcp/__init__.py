"""The agent-side MCP client: configuration, a pool of long-lived sessions, neutral call outputs.

See :mod:`integrations.mcp.pool` for the pool's API.
"""
