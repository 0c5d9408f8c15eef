"""Serving MCP over stdio on the event loop, without a thread per line.

The SDK's ``stdio_server()`` reads stdin and writes stdout through anyio's file wrappers, which run
every ``readline``, ``write`` and ``flush`` in a worker thread: three thread hand-offs per call, most
of a small tool call's cost. When stdin and stdout are pipes (as every MCP client starts a server)
they can be read and written by the event loop itself; these line streams are handed to the SDK's
``stdio_server(stdin, stdout)``, which keeps its own framing and JSON-RPC parsing.

As the SDK does, fd 0 and fd 1 are moved out of the way while serving (stdin reads EOF, stdout goes
to stderr), so a stray ``print`` cannot corrupt the wire, and they are restored at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_LINE_BYTES = 64 * 1024 * 1024  # one JSON-RPC message; the SDK's own reader has no bound at all


class LineReader:
    """``async for line in reader``: UTF-8 text lines, as anyio's wrapped text file yields them."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> str:
        line = await self.stream.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class LineWriter:
    """``await write(text)`` then ``await flush()``, as the SDK calls anyio's wrapped text file."""

    def __init__(self, stream: asyncio.StreamWriter) -> None:
        self.stream = stream

    async def write(self, text: str) -> None:
        self.stream.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self.stream.drain()


@dataclass
class _Moved:
    fd: int
    wire: int  # a private duplicate of the original descriptor

    def restore(self) -> None:
        os.dup2(self.wire, self.fd)
        os.close(self.wire)


def _move_aside(fd: int, replacement: int) -> _Moved:
    wire = os.dup(fd)
    os.dup2(replacement, fd)
    return _Moved(fd, wire)


def _streamable(fd: int) -> bool:
    """Whether the event loop can read or write ``fd`` (a pipe, a socket or a terminal, not a file)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


@contextlib.asynccontextmanager
async def pipe_stdio() -> AsyncIterator[tuple[LineReader, LineWriter] | None]:
    """Line streams over the process's stdin and stdout; None when they are not pipes (a file, say),
    and the caller should use the SDK's own transport."""
    if not (_streamable(0) and _streamable(1)):
        yield None
        return
    loop = asyncio.get_running_loop()
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_RDONLY)
    moved_in, moved_out = _move_aside(0, null), _move_aside(1, 2)
    os.close(null)
    transports: list[asyncio.BaseTransport] = []
    try:
        stream = asyncio.StreamReader(limit=MAX_LINE_BYTES)
        stdin = os.fdopen(os.dup(moved_in.wire), "rb", buffering=0)
        read_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
        transports.append(read_transport)
        stdout = os.fdopen(os.dup(moved_out.wire), "wb", buffering=0)
        write_transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
        transports.append(write_transport)
        writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
        yield LineReader(stream), LineWriter(writer)
    finally:
        for transport in transports:
            transport.close()
        await asyncio.sleep(0)  # the transports close their files on the next loop iteration
        moved_out.restore()
        moved_in.restore()
