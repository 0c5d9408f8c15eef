"""The pool against the real demo server, over stdio and over streamable HTTP."""

from __future__ import annotations

import asyncio
import io
import random
import wave
from typing import Any

import pytest

from integrations.mcp.content import BinaryOutput, CallOutcome, ResourceLinkOutput, TextOutput
from integrations.mcp.errors import UnknownTool
from integrations.mcp.pool import McpPool
from integrations.mcp_servers.demo.media import png_bytes, png_size
from tests.integrations.mcp_support import demo_stats, wait_for_stats

pytestmark = pytest.mark.timeout(30)


async def test_echo_returns_the_text(demo_pool: McpPool) -> None:
    outcome = await demo_pool.call("demo", "echo", {"text": "héllo"})

    assert outcome == CallOutcome(outputs=[TextOutput("héllo")], structured={"result": "héllo"}, is_error=False)


async def test_tools_are_listed_at_start(demo_pool: McpPool) -> None:
    tools = demo_pool.tools()

    assert list(tools) == ["demo"]
    names = {tool.name for tool in tools["demo"]}
    assert {"echo", "progress", "image", "audio", "fail", "sleep", "resource", "enable_extra"} <= names
    image = next(tool for tool in tools["demo"] if tool.name == "image")
    assert (image.server, image.description) == ("demo", "Generate a deterministic PNG image with a text caption.")
    assert image.input_schema["properties"]["width"]["maximum"] == 1024


async def test_image_is_a_png_of_the_requested_size_with_a_caption(demo_pool: McpPool) -> None:
    outcome = await demo_pool.call("demo", "image", {"width": 40, "height": 24, "text": "cat"})

    assert outcome.outputs == [
        BinaryOutput(png_bytes(40, 24, "cat"), "image/png", "image", "image-1.png"),
        TextOutput("40x24 PNG: cat"),
    ]
    image = outcome.outputs[0]
    assert isinstance(image, BinaryOutput)
    assert png_size(image.data) == (40, 24)


async def test_audio_is_a_wav_of_the_requested_length(demo_pool: McpPool) -> None:
    outcome = await demo_pool.call("demo", "audio", {"seconds": 0.2, "frequency_hz": 880})

    [audio] = outcome.outputs
    assert isinstance(audio, BinaryOutput)
    assert (audio.mime_type, audio.kind, audio.name) == ("audio/wav", "audio", "audio-1.wav")
    with wave.open(io.BytesIO(audio.data)) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(0.2, abs=1e-3)


async def test_tool_failure_is_an_error_outcome_not_an_exception(demo_pool: McpPool) -> None:
    outcome = await demo_pool.call("demo", "fail", {"message": "disk full"})

    assert outcome == CallOutcome(
        outputs=[TextOutput("Error executing tool fail: disk full")], structured=None, is_error=True
    )


async def test_out_of_range_argument_is_refused_naming_the_bound(demo_pool: McpPool) -> None:
    outcome = await demo_pool.call("demo", "image", {"width": 4096})

    assert outcome.is_error
    assert "width" in outcome.text
    assert "less than or equal to 1024" in outcome.text


async def test_progress_reaches_the_caller_in_order_before_the_call_returns(demo_pool: McpPool) -> None:
    received: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        await asyncio.sleep(random.uniform(0, 0.003))  # a slow consumer must not reorder anything
        received.append((progress, total, message))

    outcome = await demo_pool.call(
        "demo", "progress", {"steps": 15, "delay_s": 0, "message": "frame"}, on_progress=on_progress
    )

    assert outcome.text == "completed 15 steps"
    assert received == [(float(i), 15.0, f"frame {i}/15") for i in range(1, 16)]


async def test_server_log_messages_reach_the_only_call_in_flight(demo_pool: McpPool) -> None:
    logs: list[tuple[str, Any]] = []

    async def on_log(level: str, data: Any) -> None:
        logs.append((level, data))

    await demo_pool.call("demo", "log", {"message": "rendering", "level": "warning"}, on_log=on_log)

    assert logs == [("warning", "rendering")]


async def test_resource_result_gives_embedded_text_blob_and_link(demo_pool: McpPool) -> None:
    outcome = await demo_pool.call("demo", "resource")

    assert outcome.outputs == [
        TextOutput("hello"),
        BinaryOutput(bytes(range(16)), "application/octet-stream", "file", "data.bin"),
        ResourceLinkOutput("demo://docs/readme", "readme", "text/markdown", "The demo server's read-me"),
    ]


async def test_unknown_server_or_tool_is_refused_without_retry(demo_pool: McpPool) -> None:
    with pytest.raises(UnknownTool, match="nope: no MCP server with that name") as unknown_server:
        await demo_pool.call("nope", "echo", {"text": "x"})
    with pytest.raises(UnknownTool, match="demo: no tool named 'nope'") as unknown_tool:
        await demo_pool.call("demo", "nope")

    assert not unknown_server.value.retryable
    assert not unknown_tool.value.retryable


async def test_cancelling_the_caller_cancels_the_call_on_the_server(demo_pool: McpPool) -> None:
    before = await demo_stats(demo_pool)
    call = asyncio.create_task(demo_pool.call("demo", "sleep", {"seconds": 30}))
    await wait_for_stats(demo_pool, lambda stats: stats["sleeping"] == before["sleeping"] + 1)

    call.cancel()

    with pytest.raises(asyncio.CancelledError):
        await call
    stats = await wait_for_stats(demo_pool, lambda stats: stats["cancelled"] == before["cancelled"] + 1)
    assert stats["sleeping"] == before["sleeping"]
    assert (await demo_pool.call("demo", "echo", {"text": "still here"})).text == "still here"
