"""Requests written to the socket as they are: what aiohttp's client will not send (a Content-Length the body
does not have, header bytes that are not text), for the tests of the doors."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient


def raw_head(method: str, path: str, headers: dict[str, str], *extra: bytes) -> bytes:
    """The request line and headers, then ``extra`` header lines as raw bytes."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: hub", *(f"{k}: {v}".encode() for k, v in headers.items())]
    return b"\r\n".join([*lines, *extra])


async def raw_status_line(client: TestClient, head: bytes, body: bytes = b"", timeout_s: float = 5) -> bytes:
    """Send ``head`` and ``body`` to the test server; the answer's status line (a timeout if none comes)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + b"\r\n\r\n" + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout=timeout_s)
    finally:
        writer.close()
