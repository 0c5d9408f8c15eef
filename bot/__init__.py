"""Chat side of GarageSwarm: the platform-neutral message model, command parsing and adapters."""
