"""Running one job on the agent: ask the hub to start, call the tool, forward progress, report.

The hub's start gate decides whether a run may go (only the job's current attempt, on the agent it is
routed to), so a stale attempt never has an effect. A read-only tool (the server's ``readOnlyHint``)
has no effect to guard: its call starts at once, and a refused run is cancelled and reports nothing
(``eager_read_only = false`` in the agent's configuration turns this off). Such a call that ends
within ``START_DEFER_S`` is started and reported in one request (the hub records its result only if
it grants the start); a longer one asks the gate then, while it goes on."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from hub.logs import job_id_var
from integrations.mcp.errors import CallTimeout, McpCallError
from integrations.mcp.pool import McpPool

from .hub_client import HubClient, HubError, HubUnreachable, with_retries
from .progress import EventForwarder
from .reports import Report, call_meta, failure_report, report_for
from .spool import Spool

log = logging.getLogger(__name__)
START_DEFER_S = 0.1


@dataclass(frozen=True)
class AgentContext:
    """What every run needs, built once at agent start (the typed side of arq's ctx)."""

    pool: McpPool
    client: HubClient
    spool: Spool
    stopping: asyncio.Event  # set on agent shutdown: a cancelled run is then retried, not cancelled
    calls: asyncio.Semaphore  # runs between their start and the end of their call (max_concurrency)
    eager_read_only: bool = True
    start_defer_s: float = START_DEFER_S  # a read-only call that ends within this is reported with its start


@dataclass(frozen=True)
class _Ending:
    """A run's report, to deliver; ``unstarted`` when the hub was not asked to start it yet."""

    report: Report
    unstarted: bool = False


async def run_tool(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """The arq task: run one attempt of a job through the MCP pool and report it."""
    agent: AgentContext = ctx["agent"]
    job_id, attempt = str(payload["job_id"]), int(payload["attempt"])
    server, _, tool = str(payload["tool"]).partition(".")
    token = job_id_var.set(job_id)
    try:
        arguments = payload.get("arguments") or {}
        async with agent.calls:  # a run is started only when it can call at once
            if agent.eager_read_only and agent.pool.is_read_only(server, tool):
                ending = await _run_eagerly(agent, job_id, attempt, server, tool, arguments)
            else:
                ending = await _run_gated(agent, job_id, attempt, server, tool, arguments)
        # Reporting is outside the slot: the next run starts while this one reports.
        if isinstance(ending, str):
            return ending
        if ending.unstarted:
            return await _start_with_report(agent, ending.report)
        await agent.spool.deliver(ending.report)
        return str(ending.report.result["outcome"])
    except Exception as exc:  # a fault of the agent's own must not leave the job running with no report
        log.exception("run failed inside the agent")
        error = f"agent error: {type(exc).__name__}: {exc}"  # maybe after the call: the tool may have run
        report = failure_report(job_id, attempt, "failed", error, retryable=True, outcome_unknown=True)
        await agent.spool.deliver(report)
        return "agent error"
    finally:
        job_id_var.reset(token)


async def _start(agent: AgentContext, job_id: str, attempt: int) -> str | None:
    """Ask the hub's start gate; None when the run may go, else why it ends here. While the hub is unreachable
    the run keeps asking (it holds its arq job, so nothing else takes it; an agent stopping meanwhile hands
    it back to its queue): giving up would leave the job queued with its arq job spent."""
    try:
        run, reason = await with_retries(lambda: agent.client.start(job_id, attempt))
    except HubError as exc:
        return f"refused: {exc}"
    if not run:
        log.info("run skipped", extra={"reason": reason})
        return f"skipped: {reason}"
    return None


async def _run_gated(
    agent: AgentContext, job_id: str, attempt: int, server: str, tool: str, arguments: Any
) -> _Ending | str:
    if (verdict := await _start(agent, job_id, attempt)) is not None:
        return verdict
    forwarder = EventForwarder(agent.client, job_id, attempt)
    report = await _call(agent, forwarder, server, tool, arguments)
    await forwarder.close()
    return _Ending(report)


async def _run_eagerly(
    agent: AgentContext, job_id: str, attempt: int, server: str, tool: str, arguments: Any
) -> _Ending | str:
    """Call a read-only tool at once. A call that ends within ``start_defer_s`` with nothing to upload and no
    event sent is reported with its start, in one request; otherwise the start is asked then, and the call's
    events are held until the hub confirms it (a refused run is cancelled and reports nothing)."""
    confirmed = asyncio.Event()
    forwarder = EventForwarder(agent.client, job_id, attempt, ready=confirmed)
    early = asyncio.create_task(_call(agent, forwarder, server, tool, arguments))
    try:
        await asyncio.wait([early], timeout=agent.start_defer_s)
        if early.done() and not early.cancelled() and early.exception() is None:
            report = early.result()
            if not report.blobs and forwarder.idle:
                return _Ending(report, unstarted=True)
        if (verdict := await _start(agent, job_id, attempt)) is not None:
            return verdict
        confirmed.set()
        report = await early
        await forwarder.close()
        return _Ending(report)
    finally:
        if not confirmed.is_set():  # refused, unreachable, aborted, or reported with its start: drop the call
            early.cancel()
            forwarder.discard()
        # Confirmed and aborted: the abort reached the call too, which reports it; let it.
        await asyncio.gather(early, return_exceptions=True)


async def _start_with_report(agent: AgentContext, report: Report) -> str:
    """Start a quick read-only run and report it in one request. When that request fails, it is not known
    whether the hub took it: ask the start gate (a run already recorded is refused) and deliver the report
    through the spool, as any other run."""
    try:
        answer = await agent.client.start_with_result(report.job_id, report.result)
    except (HubUnreachable, HubError) as exc:
        log.info("start with result failed; starting on its own", extra={"error": str(exc)})
        if (verdict := await _start(agent, report.job_id, report.attempt)) is not None:
            return verdict
        await agent.spool.deliver(report)
        return str(report.result["outcome"])
    if not answer.get("started"):
        log.info("run skipped", extra={"reason": answer.get("reason")})
        return f"skipped: {answer.get('reason')}"
    return str(report.result["outcome"])


async def _call(agent: AgentContext, forwarder: EventForwarder, server: str, tool: str, arguments: Any) -> Report:
    """Call the tool and turn its outcome into a report (the caller closes ``forwarder``). A call that is
    cancelled before the hub confirmed its run (``forwarder.ready`` not set) reports nothing."""
    job_id, attempt = forwarder.job_id, forwarder.attempt
    try:
        outcome = await agent.pool.call(
            server, tool, arguments, on_progress=forwarder.on_progress, on_log=forwarder.on_log,
            meta=call_meta(job_id, attempt),
        )  # fmt: skip
        return report_for(job_id, attempt, outcome)
    except CallTimeout as exc:
        return failure_report(job_id, attempt, "timed_out", str(exc), retryable=True, outcome_unknown=True)
    except McpCallError as exc:
        return failure_report(job_id, attempt, "failed", str(exc), retryable=exc.retryable,
                              outcome_unknown=exc.outcome_unknown)  # fmt: skip
    except asyncio.CancelledError:
        if forwarder.ready is not None and not forwarder.ready.is_set():
            forwarder.discard()
            raise  # never confirmed: the hub did not start this run, there is nothing to report
        await forwarder.close()
        if agent.stopping.is_set():
            report = failure_report(job_id, attempt, "failed", "agent stopped while the tool was running",
                                    retryable=True, outcome_unknown=True)  # fmt: skip
        else:
            report = failure_report(job_id, attempt, "cancelled", "cancelled", retryable=False)
        await asyncio.shield(agent.spool.deliver(report))
        raise
