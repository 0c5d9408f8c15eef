"""One long-lived MCP session per server, supervised: restarted with backoff when it is lost.

A :class:`ServerConnection` owns a background task that opens the transport (starting the process
for stdio servers), negotiates the protocol, lists the tools and then keeps the session until the
connection ends or the pool stops. Calls from any task share that session. When the connection is
lost, in-flight calls fail with :class:`ServerCrashed`, new calls fail fast until the session is
back, and the task reconnects after a backoff, re-lists the tools and reports a changed list.
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import AsyncExitStack, suppress
from typing import Any, cast

from mcp import ClientSession
from mcp.client.session import IncomingMessage
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.types import (
    CONNECTION_CLOSED,
    Implementation,
    LoggingLevel,
    LoggingMessageNotificationParams,
    RequestParamsMeta,
)
from mcp.types import ToolListChangedNotification as ToolsChangedNote
from pydantic import ValidationError

from integrations.mcp.calls import CallWatch
from integrations.mcp.config import ServerConfig, StdioServerConfig
from integrations.mcp.content import CallOutcome, ContentError, outcome_from_result
from integrations.mcp.discovery import ToolsChangedCallback, ToolSpec, is_modern, list_tools, negotiate
from integrations.mcp.discovery import watch_tool_changes as _watch_tool_changes
from integrations.mcp.errors import (
    McpCallError,
    ProtocolError,
    ServerCrashed,
    ServerUnavailable,
    UnknownTool,
)
from integrations.mcp.transports import TransportStreams, open_transport

CLIENT_INFO = Implementation(name="garageswarm-agent", version="0.1.0")
RESTART_BACKOFF_BASE_S = 0.2
RESTART_BACKOFF_MAX_S = 30.0
STABLE_UPTIME_S = 10.0  # a session that lived this long resets the backoff
SERVER_LOG_LEVEL: LoggingLevel = "info"  # the 2026-era per-request opt-in; handshake-era servers send every level

logger = logging.getLogger(__name__)


class _ClosingDispatcher(JSONRPCDispatcher[Any]):
    """The SDK's JSON-RPC dispatcher, plus an event set when its receive loop ends (EOF, crash)."""

    def __init__(self, streams: TransportStreams) -> None:
        super().__init__(*streams)
        self.closed = asyncio.Event()

    async def run(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().run(*args, **kwargs)
        finally:
            self.closed.set()


class ServerConnection:
    """The supervised session to one configured server."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        connect_timeout_s: float,
        on_tools_changed: ToolsChangedCallback | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._connect_timeout_s = connect_timeout_s
        self._on_tools_changed = on_tools_changed
        self._session: ClientSession | None = None
        self._tools: list[ToolSpec] = []
        self._tool_names: frozenset[str] = frozenset()
        self._listed = False
        self._connected = False  # during this connection attempt
        self._down: tuple[type[McpCallError], str] = (ServerUnavailable, "not started")
        self._calls: set[CallWatch] = set()
        self._stop = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._relist = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def tools(self) -> list[ToolSpec]:
        """The tools from the last listing (empty before the first successful connection)."""
        return list(self._tools)

    def start(self) -> None:
        """Start the supervising task."""
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-server-{self.name}")

    async def wait_first_attempt(self) -> None:
        """Return once the first connection attempt succeeded or failed."""
        await self._first_attempt.wait()

    async def stop(self, timeout_s: float) -> None:
        """Close the session and stop the server; in-flight calls fail with ``ServerUnavailable``."""
        self._stop.set()
        if self._task is None:
            return
        if self._session is None:
            self._task.cancel()  # not connected: nothing to drain (transport shutdown is shielded)
        done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
        if not done:
            logger.warning("%s: did not stop within %s s; cancelling", self.name, timeout_s)
            self._task.cancel()
            await asyncio.wait({self._task})

    async def call(
        self, tool: str, arguments: dict[str, Any], watch: CallWatch, meta: dict[str, Any] | None = None
    ) -> CallOutcome:
        """Run one ``tools/call`` on the shared session under ``watch``'s deadline; ``meta`` goes in the
        request's ``_meta`` (beside the progress token)."""
        session = self._require_session(tool)
        self._calls.add(watch)
        try:
            async with asyncio.timeout_at(watch.first_deadline) as timeout:
                watch.attach(timeout)
                result = await session.call_tool(
                    tool, arguments, progress_callback=watch.progress, meta=cast(RequestParamsMeta | None, meta)
                )
        except TimeoutError:
            raise watch.timeout_error(self.name, tool) from None
        except MCPError as exc:
            raise self._call_error(exc) from exc
        except (ValidationError, RuntimeError) as exc:
            raise ProtocolError(self.name, f"invalid result from tool {tool!r}: {exc}") from exc
        finally:
            self._calls.discard(watch)
        await watch.drain()
        try:
            return outcome_from_result(result)
        except ContentError as exc:
            raise ProtocolError(self.name, f"tool {tool!r}: {exc}") from exc

    @property
    def _recovery(self) -> str:
        return "restarting it" if isinstance(self.config, StdioServerConfig) else "reconnecting"

    def _require_session(self, tool: str) -> ClientSession:
        if self._listed and tool not in self._tool_names:
            raise UnknownTool(self.name, f"no tool named {tool!r}")
        if self._session is None:
            kind, message = self._down
            raise kind(self.name, message)
        return self._session

    def _call_error(self, exc: MCPError) -> McpCallError:
        if exc.code != CONNECTION_CLOSED:
            return ProtocolError(self.name, f"server refused the call: {exc.error.message}", code=exc.code)
        error: McpCallError
        if self._stop.is_set():
            error = ServerUnavailable(self.name, "the pool is closed")
        else:
            error = ServerCrashed(self.name, f"the connection to the server was lost; {self._recovery}")
        error.outcome_unknown = True  # lost mid-call: the server may have done the work
        return error

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        try:
            while not self._stop.is_set():
                started = loop.time()
                self._connected = False
                try:
                    await self._serve_once()
                except Exception as exc:
                    logger.warning("%s: connection failed: %s", self.name, _describe(exc))
                    if not self._connected:
                        self._down = (ServerUnavailable, f"cannot connect: {_describe(exc)}")
                finally:
                    self._first_attempt.set()
                stable = self._connected and loop.time() - started >= STABLE_UPTIME_S
                failures = 1 if stable else failures + 1
                await self._sleep_unless_stopped(_backoff_s(failures))
        finally:
            self._session = None
            self._down = (ServerUnavailable, "the pool is closed")

    async def _serve_once(self) -> None:
        async with AsyncExitStack() as stack:
            async with asyncio.timeout(self._connect_timeout_s):
                streams = await stack.enter_async_context(open_transport(self.config))
                dispatcher = _ClosingDispatcher(streams)
                session = ClientSession(
                    dispatcher=dispatcher,
                    logging_callback=self._on_log,
                    message_handler=self._on_message,
                    client_info=CLIENT_INFO,
                    log_level=SERVER_LOG_LEVEL,
                )
                await stack.enter_async_context(session)
                await negotiate(session, self.config.protocol)
                tools = await list_tools(session, self.name)
            await self._serve(session, tools, dispatcher.closed)

    async def _serve(self, session: ClientSession, tools: list[ToolSpec], closed: asyncio.Event) -> None:
        # Report a changed list, and also a first list that arrives after a failed first attempt: the
        # agent registered without this server's tools then, and nothing else would tell the hub.
        reported_before, changed = self._listed or self._first_attempt.is_set(), tools != self._tools
        self._set_tools(tools)
        self._session = session
        self._connected = True
        self._first_attempt.set()
        logger.info("%s: connected (%s, %d tools)", self.name, session.protocol_version, len(tools))
        helpers = [asyncio.create_task(self._relister(session))]
        helpers.append(asyncio.create_task(_watch_tool_changes(session, self.name, self._relist.set)))
        try:
            if reported_before and changed:
                await self._notify_tools_changed()
            await _wait_either(closed, self._stop)
        finally:
            self._session = None
            self._down = (ServerCrashed, f"the connection to the server was lost; {self._recovery}")
            for task in helpers:
                task.cancel()
            await asyncio.wait(helpers)
        if not self._stop.is_set():
            logger.warning("%s: connection lost; %s", self.name, self._recovery)

    def _set_tools(self, tools: list[ToolSpec]) -> None:
        self._tools = tools
        self._tool_names = frozenset(tool.name for tool in tools)
        self._listed = True

    async def _relister(self, session: ClientSession) -> None:
        while True:
            await self._relist.wait()
            self._relist.clear()
            try:
                self._set_tools(await list_tools(session, self.name))
            except (MCPError, ValidationError) as exc:
                logger.warning("%s: re-listing tools failed: %s", self.name, exc)
                continue
            await self._notify_tools_changed()

    async def _notify_tools_changed(self) -> None:
        logger.info("%s: tool list changed (%d tools)", self.name, len(self._tools))
        if self._on_tools_changed is None:
            return
        try:
            await self._on_tools_changed(self.name, self.tools)
        except Exception:
            logger.exception("%s: on_tools_changed raised", self.name)

    async def _on_message(self, message: IncomingMessage) -> None:
        # 2026-era sessions hear about changes on their listen stream (watch_tool_changes).
        session = self._session
        if isinstance(message, ToolsChangedNote) and session is not None and not is_modern(session):
            self._relist.set()
        elif isinstance(message, Exception):
            logger.warning("%s: transport error: %s", self.name, _describe(message))

    async def _on_log(self, params: LoggingMessageNotificationParams) -> None:
        # MCP log messages carry no request id: they go to the call only when just one is in flight.
        listeners = [watch for watch in self._calls if watch.wants_logs]
        if len(self._calls) == 1 and listeners:
            await listeners[0].log(params.level, params.data)
        else:
            logger.info("%s: server log [%s] %s", self.name, params.level, params.data)

    async def _sleep_unless_stopped(self, delay_s: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay_s)


async def _wait_either(first: asyncio.Event, second: asyncio.Event) -> None:
    waiters = {asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _backoff_s(failures: int) -> float:
    """Exponential backoff with jitter: 0.2 s, 0.4 s, 0.8 s ... up to 30 s."""
    delay = min(RESTART_BACKOFF_MAX_S, RESTART_BACKOFF_BASE_S * 2.0 ** max(failures - 1, 0))
    return delay * random.uniform(0.8, 1.2)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
