"""The demo MCP server: small deterministic tools exercising every content type and signal.

Built on the SDK's high-level :class:`mcp.server.mcpserver.MCPServer`. Tools:

* ``echo(text)`` - returns ``text``.
* ``progress(steps, delay_s, message)`` - reports progress ``1..steps`` of ``total=steps``.
* ``image(width, height, text)`` - a deterministic PNG plus a text caption.
* ``audio(seconds, frequency_hz)`` - a sine tone as ``audio/wav``.
* ``fail(message)`` - a tool-level error (``isError: true``).
* ``sleep(seconds, report_progress)`` - sleeps; with ``report_progress`` it reports every ~0.2 s.
* ``resource()`` - an embedded text resource, an embedded blob resource and a resource link.
* ``log(message, level)`` - sends an MCP logging message, then returns.
* ``enable_extra()`` - registers the ``extra`` tool and announces the tool-list change.
* ``pid()`` and ``stats()`` - the server's process id and its counters (cancellations seen, sleeps
  in flight and the most seen at once, threads running), for tests.

Every tool but ``fail``, ``log`` and ``enable_extra`` is annotated read-only (``readOnlyHint``).

Every numeric argument is bounded in the input schema; an out-of-range value is refused with
an ``isError`` result naming the argument and the bound.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal, cast

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    LoggingLevel,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from pydantic import Field

from integrations.mcp_servers.demo.media import png_bytes, wav_bytes
from integrations.mcp_servers.stdio import pipe_stdio

SERVER_NAME = "garageswarm-demo"
READ_ONLY = ToolAnnotations(read_only_hint=True)  # no effect outside the call: agents may start it early
MAX_IMAGE_SIDE_PX = 1024
MAX_SLEEP_S = 600.0
MAX_STEPS = 10_000
MAX_STEP_DELAY_S = 10.0
MAX_AUDIO_S = 30.0
MIN_FREQUENCY_HZ = 20.0
MAX_FREQUENCY_HZ = 10_000.0
MAX_TEXT_CHARS = 100_000
SLEEP_PROGRESS_INTERVAL_S = 0.2

ServerLogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


@dataclass
class DemoState:
    """Per-server counters; one instance per :func:`create_server` call."""

    cancelled: int = 0
    sleeping: int = 0
    max_sleeping: int = 0
    extra_enabled: bool = False


class DemoServer(MCPServer):
    """The SDK's server, served over stdio by the event loop itself when stdin and stdout are pipes
    (:mod:`integrations.mcp_servers.stdio`): no worker thread per message."""

    async def run_stdio_async(self) -> None:
        async with pipe_stdio() as streams:
            if streams is None:
                await super().run_stdio_async()
                return
            # The SDK's stdio_server takes anything that reads and writes lines like anyio's text files.
            stdin, stdout = cast(anyio.AsyncFile[str], streams[0]), cast(anyio.AsyncFile[str], streams[1])
            async with stdio_server(stdin, stdout) as (read_stream, write_stream):
                lowlevel = self._lowlevel_server
                await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def create_server(log_level: ServerLogLevel = "INFO") -> MCPServer:
    """Build a fresh demo server with its own state; ``log_level`` is for its own (stderr) log.

    Tools that do no blocking work are ``async``: the SDK runs a plain function on a worker thread."""
    server = DemoServer(SERVER_NAME, instructions="Demo tools for testing MCP clients.", log_level=log_level)
    state = DemoState()
    _add_basic_tools(server)
    _add_content_tools(server)
    _add_control_tools(server, state)
    return server


def _add_basic_tools(server: MCPServer) -> None:
    @server.tool(description="Return the given text unchanged.", annotations=READ_ONLY)
    async def echo(text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]) -> str:
        return text

    @server.tool(description="Count to `steps`, reporting progress after each step.", annotations=READ_ONLY)
    async def progress(
        ctx: Context,
        steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 5,
        delay_s: Annotated[float, Field(ge=0, le=MAX_STEP_DELAY_S)] = 0.05,
        message: Annotated[str, Field(max_length=200)] = "step",
    ) -> str:
        for step in range(1, steps + 1):
            await anyio.sleep(delay_s)
            await ctx.report_progress(step, steps, f"{message} {step}/{steps}")
        return f"completed {steps} steps"

    @server.tool(description="Always fails with the given message (a tool-level error).")
    async def fail(message: Annotated[str, Field(max_length=1000)] = "demo failure") -> str:
        raise ToolError(message)

    @server.tool(description="Send an MCP logging message at `level`, then return.")
    async def log(ctx: Context, message: Annotated[str, Field(max_length=1000)], level: LoggingLevel = "info") -> str:
        await ctx.log(level, message, logger_name=SERVER_NAME)
        return "logged"


def _add_content_tools(server: MCPServer) -> None:
    @server.tool(
        description="Return an embedded text resource, an embedded blob and a resource link.", annotations=READ_ONLY
    )
    async def resource() -> list[ContentBlock]:
        return [
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(uri="demo://notes/hello.txt", mime_type="text/plain", text="hello"),
            ),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(
                    uri="demo://files/data.bin",
                    mime_type="application/octet-stream",
                    blob=base64.b64encode(bytes(range(16))).decode("ascii"),
                ),
            ),
            ResourceLink(
                type="resource_link",
                uri="demo://docs/readme",
                name="readme",
                mime_type="text/markdown",
                description="The demo server's read-me",
            ),
        ]

    @server.tool(description="Generate a deterministic PNG image with a text caption.", annotations=READ_ONLY)
    def image(
        width: Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE_PX)] = 64,
        height: Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE_PX)] = 64,
        text: Annotated[str, Field(max_length=200)] = "",
    ) -> list[ContentBlock]:
        data = base64.b64encode(png_bytes(width, height, text)).decode("ascii")
        caption = f"{width}x{height} PNG" + (f": {text}" if text else "")
        return [
            ImageContent(type="image", data=data, mime_type="image/png"),
            TextContent(type="text", text=caption),
        ]

    @server.tool(description="Generate a sine tone as a WAV file.", annotations=READ_ONLY)
    def audio(
        seconds: Annotated[float, Field(gt=0, le=MAX_AUDIO_S)] = 0.5,
        frequency_hz: Annotated[float, Field(ge=MIN_FREQUENCY_HZ, le=MAX_FREQUENCY_HZ)] = 440.0,
    ) -> AudioContent:
        data = base64.b64encode(wav_bytes(seconds, frequency_hz)).decode("ascii")
        return AudioContent(type="audio", data=data, mime_type="audio/wav")


def _add_control_tools(server: MCPServer, state: DemoState) -> None:
    @server.tool(description="Sleep for `seconds`; with report_progress, report every ~0.2 s.", annotations=READ_ONLY)
    async def sleep(
        ctx: Context,
        seconds: Annotated[float, Field(ge=0, le=MAX_SLEEP_S)],
        report_progress: bool = False,
    ) -> str:
        state.sleeping += 1
        state.max_sleeping = max(state.max_sleeping, state.sleeping)
        try:
            await _sleep(ctx, seconds, report_progress)
        except anyio.get_cancelled_exc_class():
            state.cancelled += 1
            raise
        finally:
            state.sleeping -= 1
        return f"slept {seconds} s"

    @server.tool(description="Register the `extra` tool and announce the tool-list change.")
    async def enable_extra(ctx: Context) -> str:
        if not state.extra_enabled:
            server.add_tool(_extra, name="extra", description="A tool that exists once enable_extra ran.")
            state.extra_enabled = True
        # 2026-07-28 clients hear it on their subscriptions/listen stream, earlier ones as a notification.
        await ctx.notify_tools_changed()
        await ctx.session.send_tool_list_changed()
        return "extra enabled"

    @server.tool(description="The server's process id.", annotations=READ_ONLY)
    async def pid() -> int:
        return os.getpid()

    @server.tool(
        description="Counters kept by this server process, and how many threads it runs.", annotations=READ_ONLY
    )
    async def stats() -> dict[str, Any]:
        return {**asdict(state), "threads": threading.active_count()}


async def _sleep(ctx: Context, seconds: float, report_progress: bool) -> None:
    if not report_progress:
        await anyio.sleep(seconds)
        return
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        await anyio.sleep(min(SLEEP_PROGRESS_INTERVAL_S, seconds - elapsed))
        await ctx.report_progress(min(time.monotonic() - start, seconds), seconds, "sleeping")


def _extra(text: str = "") -> str:
    return f"extra: {text}"
