"""Read-only tools start while the hub confirms the run; a refused run is cancelled and reports nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from integrations.mcp.pool import McpPool
from jobs.agent.hub_client import HubClient, HubUnreachable
from jobs.agent.runner import START_DEFER_S, AgentContext, run_tool
from jobs.agent.spool import Spool
from tests.integrations.mcp_support import agent_config, demo_stats, demo_stdio, wait_for_stats

pytestmark = pytest.mark.timeout(30)


class GatedHub:
    """The agent API as run_tool sees it; the start answer waits until the test gives it."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answered = asyncio.Event()
        self.answer: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        self.sent: list[dict[str, Any]] = []  # events
        self.results: list[dict[str, Any]] = []
        self.started_with_result: list[dict[str, Any]] = []
        self.start_with_result_fails = False

    async def start(self, job_id: str, attempt: int) -> tuple[bool, str]:
        self.asked.set()
        answer = await self.answer
        self.answered.set()  # run_tool confirms the run before it next yields
        return answer

    async def start_with_result(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.start_with_result_fails:
            raise HubUnreachable("connection reset")
        self.started_with_result.append(body)
        run, reason = await self.answer
        return {"status": body["outcome"] if run else None, "started": run, "reason": reason}

    async def events(self, job_id: str, attempt: int, events: list[dict[str, Any]]) -> None:
        self.sent.extend(events)

    async def result(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.results.append(body)
        return {"status": body["outcome"], "duplicate": False}


@pytest.fixture
async def pool() -> AsyncIterator[McpPool]:
    async with McpPool(agent_config(demo_stdio())) as started:
        yield started


def _context(
    pool: McpPool, hub: GatedHub, tmp_path: Path, *, eager: bool = True, defer_s: float = START_DEFER_S
) -> dict[str, Any]:
    client = cast(HubClient, hub)
    agent = AgentContext(pool, client, Spool(tmp_path, client), asyncio.Event(), asyncio.Semaphore(4),
                         eager_read_only=eager, start_defer_s=defer_s)  # fmt: skip
    return {"agent": agent}


def _run(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"job_id": "job-1", "attempt": 0, "tool": tool, "arguments": arguments}


async def test_the_pool_knows_which_tools_are_read_only(pool: McpPool) -> None:
    assert pool.is_read_only("demo", "echo") and pool.is_read_only("demo", "sleep")
    assert not pool.is_read_only("demo", "fail") and not pool.is_read_only("demo", "enable_extra")
    assert not pool.is_read_only("demo", "nope") and not pool.is_read_only("nope", "echo")


async def test_a_read_only_call_starts_while_the_hub_confirms_and_its_events_wait_for_it(
    pool: McpPool, tmp_path: Path
) -> None:
    hub = GatedHub()
    run = asyncio.create_task(run_tool(_context(pool, hub, tmp_path), _run("demo.sleep", seconds=0.8,
                                                                            report_progress=True)))  # fmt: skip
    await hub.asked.wait()
    await wait_for_stats(pool, lambda stats: stats["sleeping"] == 1)  # calling before the hub answered
    await asyncio.sleep(0.3)
    assert hub.sent == [], "progress of an unconfirmed run is held"
    hub.answer.set_result((True, "started"))
    assert await run == "succeeded"
    assert [result["outcome"] for result in hub.results] == ["succeeded"]
    assert hub.sent and all(event["kind"] == "progress" for event in hub.sent)


async def test_a_refused_read_only_run_is_cancelled_and_reports_nothing(pool: McpPool, tmp_path: Path) -> None:
    hub = GatedHub()
    before = (await demo_stats(pool))["cancelled"]
    run = asyncio.create_task(run_tool(_context(pool, hub, tmp_path), _run("demo.sleep", seconds=5,
                                                                            report_progress=True)))  # fmt: skip
    await wait_for_stats(pool, lambda stats: stats["sleeping"] == 1)
    await asyncio.sleep(0.3)
    hub.answer.set_result((False, "stale attempt: the job was re-queued"))
    assert await run == "skipped: stale attempt: the job was re-queued"
    await wait_for_stats(pool, lambda stats: stats["cancelled"] == before + 1 and stats["sleeping"] == 0)
    await asyncio.sleep(0.3)  # a late report would have arrived by now
    assert hub.results == [] and hub.sent == []


async def test_with_eager_read_only_off_the_call_waits_for_the_hub(pool: McpPool, tmp_path: Path) -> None:
    hub = GatedHub()
    run = asyncio.create_task(run_tool(_context(pool, hub, tmp_path, eager=False), _run("demo.sleep", seconds=0.1)))
    await hub.asked.wait()
    await asyncio.sleep(0.3)
    assert (await demo_stats(pool))["max_sleeping"] == 0, "nothing was called before the hub answered"
    hub.answer.set_result((True, "started"))
    assert await run == "succeeded"
    assert (await demo_stats(pool))["max_sleeping"] == 1


async def test_a_confirmed_read_only_run_that_is_cancelled_reports_its_cancellation(
    pool: McpPool, tmp_path: Path
) -> None:
    hub = GatedHub()
    hub.answer.set_result((True, "started"))
    run = asyncio.create_task(run_tool(_context(pool, hub, tmp_path), _run("demo.sleep", seconds=5)))
    await hub.answered.wait()
    await wait_for_stats(pool, lambda stats: stats["sleeping"] == 1)
    run.cancel()  # what the agent's arq worker does when the hub asks to cancel the job
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [result["outcome"] for result in hub.results] == ["cancelled"]
    await wait_for_stats(pool, lambda stats: stats["sleeping"] == 0)


async def test_a_quick_read_only_call_is_started_and_reported_in_one_request(pool: McpPool, tmp_path: Path) -> None:
    hub = GatedHub()
    hub.answer.set_result((True, "started"))
    assert await run_tool(_context(pool, hub, tmp_path), _run("demo.echo", text="hi")) == "succeeded"
    assert not hub.asked.is_set(), "no start request of its own"
    [body] = hub.started_with_result
    assert (body["outcome"], body["outputs"]) == ("succeeded", [{"type": "text", "text": "hi"}])
    assert hub.results == [] and hub.sent == []


async def test_a_quick_read_only_run_the_hub_does_not_start_ends_there(pool: McpPool, tmp_path: Path) -> None:
    hub = GatedHub()
    hub.answer.set_result((False, "job already cancelled"))
    assert (
        await run_tool(_context(pool, hub, tmp_path), _run("demo.echo", text="hi")) == "skipped: job already cancelled"
    )
    assert len(hub.started_with_result) == 1 and hub.results == [] and not hub.asked.is_set()


async def test_when_start_with_result_fails_the_run_is_started_then_reported(pool: McpPool, tmp_path: Path) -> None:
    hub = GatedHub()
    hub.start_with_result_fails = True
    hub.answer.set_result((True, "started"))
    assert await run_tool(_context(pool, hub, tmp_path), _run("demo.echo", text="hi")) == "succeeded"
    assert hub.asked.is_set() and [result["outcome"] for result in hub.results] == ["succeeded"]


async def test_a_read_only_call_longer_than_the_window_asks_the_start_gate(pool: McpPool, tmp_path: Path) -> None:
    hub = GatedHub()
    hub.answer.set_result((True, "started"))
    context = _context(pool, hub, tmp_path, defer_s=0.05)
    assert await run_tool(context, _run("demo.sleep", seconds=0.3)) == "succeeded"
    assert hub.asked.is_set() and hub.started_with_result == []
    assert [result["outcome"] for result in hub.results] == ["succeeded"]


async def test_a_quick_call_that_reported_progress_is_started_on_its_own(pool: McpPool, tmp_path: Path) -> None:
    hub = GatedHub()
    hub.answer.set_result((True, "started"))
    assert await run_tool(_context(pool, hub, tmp_path), _run("demo.progress", steps=2, delay_s=0.001)) == "succeeded"
    assert hub.asked.is_set() and hub.started_with_result == []
    assert hub.sent and [result["outcome"] for result in hub.results] == ["succeeded"]


async def test_a_fault_inside_the_agent_reports_the_run_failed_and_retryable(tmp_path: Path) -> None:
    class BrokenPool:
        def is_read_only(self, server: str, tool: str) -> bool:
            return False

        async def call(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug")

    hub = GatedHub()
    hub.answer.set_result((True, "started"))
    context = _context(cast(McpPool, BrokenPool()), hub, tmp_path)

    assert await run_tool(context, _run("demo.echo", text="x")) == "agent error"

    [result] = hub.results
    assert (result["outcome"], result["retryable"]) == ("failed", True)
    assert result["error"] == "agent error: RuntimeError: a bug"
