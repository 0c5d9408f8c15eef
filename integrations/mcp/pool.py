"""The agent-side MCP client pool: one long-lived session per configured server, shared by all calls.

```python
async with McpPool(config, on_tools_changed=callback) as pool:
    pool.tools()                      # {"time": [ToolSpec(...), ...], ...}
    outcome = await pool.call("time", "get_current_time", {"timezone": "UTC"},
                              on_progress=..., on_log=...)
```

API:

* ``McpPool(config: AgentConfig, *, on_tools_changed: ToolsChangedCallback | None = None)``
* ``async with pool`` / ``await pool.start()`` - start every server and list its tools. A server that
  fails to start does not fail the pool: it is retried in the background with backoff and its
  calls raise :class:`ServerUnavailable` meanwhile.
* ``pool.tools() -> dict[str, list[ToolSpec]]`` - per server, from the latest listing. Re-read when
  a server announces a change (``notifications/tools/list_changed``, or a 2026-era listen stream),
  then ``await on_tools_changed(server, tools)``; also reported when a restart changed the list.
* ``await pool.call(server, tool, arguments, *, on_progress=None, on_log=None, meta=None) -> CallOutcome``.
  ``on_progress(progress, total, message)`` gets the MCP progress notifications of the call, in
  order; ``on_log(level, data)`` gets the server's log messages while the call is the only one in
  flight on that server (MCP log messages carry no request id, so with several in flight they go
  to this module's logger instead). Both have run when ``call`` returns.
* ``await pool.aclose()`` / leaving the ``async with`` - stop every server; no child process remains.

Limits (from :class:`AgentConfig`): at most ``max_concurrency`` calls in flight across all servers;
a call silent for ``idle_timeout_s`` raises :class:`CallTimeout`; each progress notification moves
that deadline, up to ``max_call_s`` after the start. Cancelling the task awaiting ``call`` (or a
timeout) sends MCP cancellation to the server and leaves the session usable.

Errors (:mod:`integrations.mcp.errors`): ``UnknownTool`` (no such server or tool), ``ServerCrashed``
(connection lost; the server is restarted in the background), ``ServerUnavailable``, ``CallTimeout``
and ``ProtocolError``. A tool's own failure is ``CallOutcome.is_error``, not an exception.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Self

from integrations.mcp.calls import CallWatch, LogCallback, ProgressCallback
from integrations.mcp.config import AgentConfig
from integrations.mcp.connection import ServerConnection
from integrations.mcp.content import CallOutcome
from integrations.mcp.discovery import ToolsChangedCallback, ToolSpec
from integrations.mcp.errors import ServerUnavailable, UnknownTool

STOP_TIMEOUT_S = 10.0  # stdio shutdown waits up to ~6 s before killing the process tree

logger = logging.getLogger(__name__)

__all__ = ["CallOutcome", "McpPool", "ToolSpec"]


class McpPool:
    """Long-lived MCP sessions to every configured server, with call limits and supervision."""

    def __init__(self, config: AgentConfig, *, on_tools_changed: ToolsChangedCallback | None = None) -> None:
        self._config = config
        self._on_tools_changed = on_tools_changed
        self._connections: dict[str, ServerConnection] = {}
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start every server and wait for each first connection attempt."""
        if self._connections or self._closed:
            raise RuntimeError("McpPool can be started once")
        self._slots = asyncio.Semaphore(self._config.max_concurrency)
        for name, server in self._config.servers.items():
            connection = ServerConnection(
                server,
                connect_timeout_s=self._config.connect_timeout_s,
                on_tools_changed=self._on_tools_changed,
            )
            self._connections[name] = connection
            connection.start()
        try:
            await asyncio.gather(*(c.wait_first_attempt() for c in self._connections.values()))
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop every server; calls still in flight fail with ``ServerUnavailable``. Idempotent."""
        self._closed = True
        await asyncio.gather(*(c.stop(STOP_TIMEOUT_S) for c in self._connections.values()))

    def tools(self) -> dict[str, list[ToolSpec]]:
        """The tools of every configured server, from its latest listing."""
        return {name: connection.tools for name, connection in self._connections.items()}

    def is_read_only(self, server: str, tool: str) -> bool:
        """Whether the server's latest listing marks ``tool`` read-only (an unknown tool is not)."""
        connection = self._connections.get(server)
        return connection is not None and any(t.name == tool and t.read_only for t in connection.tools)

    def safe_to_repeat(self, server: str, tool: str) -> bool | None:
        """The operator's word on repeating ``tool`` after its outcome was lost (``safe_to_repeat`` in the
        server's table); None when the operator left it to the server's hints."""
        connection = self._connections.get(server)
        return connection.config.repeat.of(tool) if connection is not None else None

    async def call(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        on_log: LogCallback | None = None,
        meta: dict[str, Any] | None = None,
    ) -> CallOutcome:
        """Call ``tool`` on ``server`` over its shared session; ``meta`` goes in the request's ``_meta``."""
        connection = self._connections.get(server)
        if connection is None:
            raise UnknownTool(server, "no MCP server with that name is configured")
        if self._closed or self._slots is None:
            raise ServerUnavailable(server, "the pool is not running")
        async with self._slots:
            watch = CallWatch(
                idle_timeout_s=self._config.idle_timeout_s,
                max_call_s=self._config.max_call_s,
                on_progress=on_progress,
                on_log=on_log,
            )
            return await connection.call(tool, arguments or {}, watch, meta)
