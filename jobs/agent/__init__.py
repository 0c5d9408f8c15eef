"""The agent (``garageswarm agent``): runs jobs on an AI machine through its MCP servers."""
