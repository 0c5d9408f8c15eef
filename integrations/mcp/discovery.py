"""Protocol negotiation and tool discovery on an open :class:`ClientSession`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp import ClientSession
from mcp.client.subscriptions import listen
from mcp.shared.exceptions import MCPError
from mcp.types import PaginatedRequestParams, Tool
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from integrations.mcp.config import ProtocolMode

MAX_TOOL_PAGES = 100

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolSpec:
    """One tool a server offers, as listed by ``tools/list``."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any] = field(default_factory=dict)
    read_only: bool = False  # the server's readOnlyHint: calling it does not modify its environment
    idempotent: bool = False  # the server's idempotentHint: calling it twice has the effect of once


ToolsChangedCallback = Callable[[str, list[ToolSpec]], Awaitable[None]]
"""``on_tools_changed(server_name, tools)``, awaited after a server's tool list was re-read."""


async def negotiate(session: ClientSession, protocol: ProtocolMode) -> None:
    """Agree on a protocol version: 2026-07-28 via ``server/discover`` if offered, else the handshake.

    ``"legacy"`` skips the probe (for servers that need 2025-era sampling, elicitation or roots).
    """
    if protocol == "auto":
        try:
            await session.discover()
            return
        except (MCPError, RuntimeError) as exc:
            # Any refusal of the probe means a handshake-era server (the SDK's own "auto" policy).
            logger.debug("server/discover refused (%s); using the initialize handshake", exc)
    await session.initialize()


def is_modern(session: ClientSession) -> bool:
    """Whether the session speaks a 2026-era protocol (change notifications need a listen stream)."""
    return session.protocol_version in MODERN_PROTOCOL_VERSIONS


async def list_tools(session: ClientSession, server: str) -> list[ToolSpec]:
    """Every tool the server lists, following pagination."""
    specs: list[ToolSpec] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        specs.extend(tool_spec(server, tool) for tool in page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return specs


def tool_spec(server: str, tool: Tool) -> ToolSpec:
    """The neutral description of one listed tool."""
    return ToolSpec(
        server=server,
        name=tool.name,
        description=tool.description or tool.title or "",
        input_schema=dict(tool.input_schema),
        read_only=bool(tool.annotations and tool.annotations.read_only_hint),
        idempotent=bool(tool.annotations and tool.annotations.idempotent_hint),
    )


async def watch_tool_changes(session: ClientSession, server: str, on_change: Callable[[], None]) -> None:
    """On a 2026-era session, call ``on_change`` for every tools-changed event until the stream ends.

    Handshake-era servers send ``notifications/tools/list_changed`` unasked instead; the caller
    handles those in its message handler.
    """
    capabilities = session.server_capabilities
    if not is_modern(session) or capabilities is None or not capabilities.tools:
        return
    if not capabilities.tools.list_changed:
        return
    try:
        async with listen(session, tools_list_changed=True) as subscription:
            async for _event in subscription:
                on_change()
    except Exception as exc:  # a lost stream only costs change detection, never the session
        logger.info("%s: tool-change subscription ended: %s", server, exc)
