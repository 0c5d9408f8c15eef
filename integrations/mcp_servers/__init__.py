"""MCP servers shipped with GarageSwarm, one package per server."""
