"""Pool behaviour over time: one session reused, limits, timeouts, crashes, restarts, shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time

import psutil
import pytest

from integrations.mcp.config import HttpServerConfig, ServerConfig, StdioServerConfig
from integrations.mcp.errors import CallTimeout, ServerCrashed, ServerUnavailable
from integrations.mcp.pool import McpPool
from tests.integrations.mcp_support import (
    agent_config,
    demo_http,
    demo_stats,
    demo_stdio,
    eventually,
    free_port,
    running_demo_server,
    wait_for_stats,
)

pytestmark = pytest.mark.timeout(30)


def demo_children() -> list[psutil.Process]:
    """Child processes of this test process that run the demo server."""
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "integrations.mcp_servers.demo" in " ".join(child.cmdline())
    ]


async def demo_pid(pool: McpPool) -> int:
    outcome = await pool.call("demo", "pid")
    assert outcome.structured is not None
    return int(outcome.structured["result"])


async def test_one_server_process_serves_every_call() -> None:
    async with McpPool(agent_config(demo_stdio())) as pool:
        pids = {await demo_pid(pool) for _ in range(20)}

        assert len(pids) == 1
        assert [child.pid for child in demo_children()] == list(pids)


async def test_calls_run_concurrently_on_one_session() -> None:
    async with McpPool(agent_config(demo_stdio(), max_concurrency=8)) as pool:
        started = time.monotonic()
        await asyncio.gather(*(pool.call("demo", "sleep", {"seconds": 0.5}) for _ in range(4)))

        assert time.monotonic() - started < 1.0
        assert (await demo_stats(pool))["max_sleeping"] == 4


async def test_concurrency_is_limited_to_max_concurrency() -> None:
    async with McpPool(agent_config(demo_stdio(), max_concurrency=2)) as pool:
        started = time.monotonic()
        outcomes = await asyncio.gather(*(pool.call("demo", "sleep", {"seconds": 0.3}) for _ in range(6)))

        assert [outcome.text for outcome in outcomes] == ["slept 0.3 s"] * 6
        assert time.monotonic() - started >= 0.85
        assert (await demo_stats(pool))["max_sleeping"] == 2


async def test_silent_call_times_out_after_idle_timeout_and_is_cancelled() -> None:
    async with McpPool(agent_config(demo_stdio(), idle_timeout_s=0.5)) as pool:
        started = time.monotonic()
        with pytest.raises(CallTimeout, match=r"reported no progress for idle_timeout_s \(0.5 s\)") as timeout:
            await pool.call("demo", "sleep", {"seconds": 10})

        assert 0.45 <= time.monotonic() - started < 2.0
        assert timeout.value.retryable and timeout.value.outcome_unknown
        await wait_for_stats(pool, lambda stats: stats["cancelled"] == 1 and stats["sleeping"] == 0)


async def test_progress_keeps_a_call_alive_past_idle_timeout() -> None:
    async with McpPool(agent_config(demo_stdio(), idle_timeout_s=0.5)) as pool:
        outcome = await pool.call("demo", "sleep", {"seconds": 1.5, "report_progress": True})

        assert outcome.text == "slept 1.5 s"


async def test_max_call_s_stops_a_call_that_keeps_reporting_progress() -> None:
    async with McpPool(agent_config(demo_stdio(), idle_timeout_s=0.5, max_call_s=1.2)) as pool:
        started = time.monotonic()
        with pytest.raises(CallTimeout, match=r"ran longer than max_call_s \(1.2 s\)") as timeout:
            await pool.call("demo", "sleep", {"seconds": 10, "report_progress": True})

        assert 1.15 <= time.monotonic() - started < 2.5
        assert timeout.value.elapsed_s == pytest.approx(1.2, abs=0.2)
        await wait_for_stats(pool, lambda stats: stats["cancelled"] == 1)


async def test_killed_stdio_server_fails_calls_as_crashed_then_is_restarted() -> None:
    async with McpPool(agent_config(demo_stdio())) as pool:
        old_pid = await demo_pid(pool)
        in_flight = asyncio.create_task(pool.call("demo", "sleep", {"seconds": 30}))
        await wait_for_stats(pool, lambda stats: stats["sleeping"] == 1)

        os.kill(old_pid, signal.SIGKILL)

        with pytest.raises(ServerCrashed) as crashed:
            await in_flight
        assert crashed.value.retryable
        assert crashed.value.outcome_unknown, "lost mid-call: the tool may have done its work"
        with pytest.raises(ServerCrashed):
            await pool.call("demo", "echo", {"text": "too soon"})
        new_pid = await eventually(lambda: demo_pid(pool))
        assert new_pid != old_pid
        assert [child.pid for child in demo_children()] == [new_pid]
        assert (await pool.call("demo", "echo", {"text": "back"})).text == "back"


async def test_http_server_that_went_away_is_reconnected_when_it_returns() -> None:
    port = free_port()
    with running_demo_server("--http", port=port) as base_url:
        pool = McpPool(agent_config(demo_http(f"{base_url}/mcp")))
        await pool.start()
        try:
            first_pid = await demo_pid(pool)
        except BaseException:
            await pool.aclose()
            raise
    try:
        with pytest.raises((ServerCrashed, ServerUnavailable)) as lost:
            await pool.call("demo", "echo", {"text": "anyone?"})
        assert lost.value.retryable
        with running_demo_server("--http", port=port):
            second_pid = await eventually(lambda: demo_pid(pool))
            assert second_pid != first_pid
    finally:
        await pool.aclose()


@pytest.mark.parametrize(
    "broken",
    [
        StdioServerConfig(name="broken", command=sys.executable, args=("-c", "raise SystemExit(3)")),
        StdioServerConfig(name="broken", command="/nonexistent/mcp-server"),
        HttpServerConfig(name="broken", url=f"http://127.0.0.1:{free_port()}/mcp"),
    ],
    ids=["exits", "missing-command", "refused"],
)
async def test_server_that_cannot_start_is_unavailable_while_others_work(broken: ServerConfig) -> None:
    async with McpPool(agent_config(broken, demo_stdio())) as pool:
        with pytest.raises(ServerUnavailable, match="broken: cannot connect") as unavailable:
            await pool.call("broken", "anything")

        assert unavailable.value.retryable and not unavailable.value.outcome_unknown
        assert pool.tools()["broken"] == []
        assert (await pool.call("demo", "echo", {"text": "fine"})).text == "fine"


async def test_server_that_never_answers_fails_after_connect_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never answers HTTP
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        started = time.monotonic()
        async with McpPool(agent_config(HttpServerConfig(name="silent", url=url), connect_timeout_s=0.5)) as pool:
            assert time.monotonic() - started < 3.0
            with pytest.raises(ServerUnavailable, match="silent: cannot connect: TimeoutError"):
                await pool.call("silent", "anything")


async def test_closing_the_pool_stops_servers_and_refuses_calls() -> None:
    pool = McpPool(agent_config(demo_stdio("one"), demo_stdio("two")))
    async with pool:
        assert len(demo_children()) == 2
        in_flight = asyncio.create_task(pool.call("one", "sleep", {"seconds": 30}))
        await wait_for_stats(pool, lambda stats: stats["sleeping"] == 1, server="one")

    assert demo_children() == []
    with pytest.raises(ServerUnavailable, match="the pool is closed"):
        await in_flight
    with pytest.raises(ServerUnavailable, match="two: the pool is not running"):
        await pool.call("two", "echo", {"text": "x"})
    await pool.aclose()  # idempotent
