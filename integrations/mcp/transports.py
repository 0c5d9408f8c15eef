"""Open the SDK transport a server's configuration asks for: stdio, streamable HTTP or legacy SSE."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TextIO

import httpx2
from mcp.client._transport import TransportStreams
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from integrations.mcp.config import HttpServerConfig, ServerConfig, StdioServerConfig

HTTP_CONNECT_TIMEOUT_S = 30.0
# The pool's own idle/max watchdog bounds every call, so the HTTP layer gets no read timeout: a
# read timeout would break long silent calls and, after two expiries, end the streamable-HTTP
# GET stream that carries change notifications.
SSE_READ_TIMEOUT_S = 24 * 3600.0

__all__ = ["TransportStreams", "open_transport"]


def open_transport(
    config: ServerConfig, *, errlog: TextIO | None = None
) -> AbstractAsyncContextManager[TransportStreams]:
    """The transport for ``config``; entering it starts the process or opens the connection.

    ``errlog`` receives a stdio server's stderr (default: this process's stderr).
    """
    if isinstance(config, StdioServerConfig):
        params = StdioServerParameters(
            command=config.command,
            args=list(config.args),
            env=dict(config.env) or None,
            cwd=config.cwd,
        )
        return stdio_client(params, errlog=errlog or sys.stderr)
    if config.transport == "sse":
        return sse_client(
            config.url,
            headers=dict(config.headers) or None,
            timeout=HTTP_CONNECT_TIMEOUT_S,
            sse_read_timeout=SSE_READ_TIMEOUT_S,
        )
    return _streamable_http(config)


@asynccontextmanager
async def _streamable_http(config: HttpServerConfig) -> AsyncIterator[TransportStreams]:
    timeout = httpx2.Timeout(HTTP_CONNECT_TIMEOUT_S, read=None)
    async with (
        httpx2.AsyncClient(headers=dict(config.headers), timeout=timeout) as client,
        streamable_http_client(config.url, http_client=client) as streams,
    ):
        yield streams
