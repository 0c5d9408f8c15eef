"""Hub-side arq tasks, one module each."""

from __future__ import annotations

from typing import Any

from ..context import context_of


async def ping(ctx: dict[str, Any]) -> str:
    """A no-op task used to check the worker end to end."""
    context_of(ctx)
    return "pong"


HUB_TASKS: list[Any] = [ping]
