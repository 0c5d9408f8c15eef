"""GarageSwarm hub: the aiohttp application and its doors."""

__version__ = "0.1.0"
