"""Integrations: MCP client pool, bundled MCP servers, webhooks and service clients."""
