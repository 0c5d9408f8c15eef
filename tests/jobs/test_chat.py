"""``garageswarm chat``: a command through the hub, the thread followed live, attachments saved."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.harness import Swarm, demo_stdio_config

pytestmark = pytest.mark.timeout(90)


async def _chat(swarm: Swarm, text: str, out: Path) -> tuple[int, str]:
    env = swarm.env(GARAGESWARM_TOKEN=swarm.token)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "chat", text, "--out", str(out), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_chat_follows_progress_and_saves_the_image(swarm: Swarm, tmp_path: Path) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    code, output = await _chat(swarm, "/swarm tool demo.progress steps=3 delay_s=0.3", tmp_path)
    assert code == 0, output
    assert "running" in output and "%" in output, output
    assert "succeeded" in output
    code, output = await _chat(swarm, '/swarm tool demo.image width=8 height=8 text="hi"', tmp_path)
    assert code == 0, output
    saved = list(tmp_path.rglob("*.png"))
    assert len(saved) == 1 and saved[0].read_bytes()[:4] == b"\x89PNG"
    assert str(saved[0]) in output


async def test_chat_exits_non_zero_with_the_error_when_the_job_fails(swarm: Swarm, tmp_path: Path) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    code, output = await _chat(swarm, "/swarm tool demo.fail message=kaput", tmp_path)
    assert code == 1
    assert "kaput" in output


async def test_chat_explains_an_unknown_tool_and_lists_tools(swarm: Swarm, tmp_path: Path) -> None:
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    code, output = await _chat(swarm, "/swarm tool demo.ecco text=x", tmp_path)
    assert code == 1 and "demo.echo" in output
    code, output = await _chat(swarm, "/swarm tools", tmp_path)
    assert code == 0 and "tool demo.echo text=<string>" in output
