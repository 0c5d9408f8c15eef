"""Our servers' stdio transport: lines over pipes on the event loop, stray output kept off the wire."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest

from integrations.mcp.pool import McpPool
from tests.integrations.mcp_support import agent_config, demo_stats, demo_stdio

pytestmark = pytest.mark.timeout(30)

# Echoes each line back upper-cased; prints to stdout while serving and says which transport it got.
ECHO_SCRIPT = """
import asyncio, sys
from integrations.mcp_servers.stdio import pipe_stdio

async def main():
    async with pipe_stdio() as streams:
        print("stray output", flush=True)
        if streams is None:
            sys.stderr.write("fallback\\n")
        else:
            async for line in streams[0]:
                await streams[1].write(line.upper())
                await streams[1].flush()
    print("after serving", flush=True)

asyncio.run(main())
"""


def test_lines_come_back_over_the_pipes_and_stray_prints_go_to_stderr() -> None:
    done = subprocess.run([sys.executable, "-c", ECHO_SCRIPT], input="héllo\n" + "x" * 200_000 + "\nlast",
                          capture_output=True, text=True, timeout=20, check=True)  # fmt: skip

    assert done.stdout.split("\n")[:3] == ["HÉLLO", "X" * 200_000, "LASTafter serving"], "stdout restored after"
    assert "stray output" in done.stderr


def test_a_file_on_stdin_falls_back_to_the_sdk_transport() -> None:
    with tempfile.TemporaryFile("w+") as stdin:
        stdin.write("{}\n")
        stdin.seek(0)
        done = subprocess.run([sys.executable, "-c", ECHO_SCRIPT], stdin=stdin, capture_output=True, text=True,
                              timeout=20, check=True)  # fmt: skip

    assert done.stderr.strip().endswith("fallback")
    assert done.stdout == "stray output\nafter serving\n", "nothing was moved aside"


async def test_the_demo_server_answers_calls_over_stdio_without_worker_threads() -> None:
    async with McpPool(agent_config(demo_stdio())) as pool:
        for index in range(20):
            outcome = await pool.call("demo", "echo", {"text": f"call {index}"})
            assert outcome.text == f"call {index}"
        assert (await demo_stats(pool))["threads"] == 1, "the SDK's stdio transport would run a thread per line"
