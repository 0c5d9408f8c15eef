"""Running one job on the agent: ask the hub to start, call the tool, forward progress, report.

The hub's start gate decides whether a run may go (only the job's current attempt, on the agent it is
routed to), so a stale attempt never has an effect. A read-only tool (the server's ``readOnlyHint``)
has no effect to guard: its call starts while the gate is asked, taking that round trip off the
job's latency, and a refused run is cancelled and reports nothing (``eager_read_only = false`` in
the agent's configuration turns this off)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from hub.logs import job_id_var
from integrations.mcp.content import BinaryOutput, CallOutcome, ResourceLinkOutput, TextOutput
from integrations.mcp.errors import CallTimeout, McpCallError
from integrations.mcp.pool import McpPool

from .hub_client import HubClient, HubError, HubUnreachable, with_retries
from .progress import EventForwarder
from .spool import Blob, Report, Spool

log = logging.getLogger(__name__)
MAX_INLINE_TEXT = 32 * 1024
START_ATTEMPTS = 8


@dataclass(frozen=True)
class AgentContext:
    """What every run needs, built once at agent start (the typed side of arq's ctx)."""

    pool: McpPool
    client: HubClient
    spool: Spool
    stopping: asyncio.Event  # set on agent shutdown: a cancelled run is then retried, not cancelled
    calls: asyncio.Semaphore  # runs between their start and the end of their call (max_concurrency)
    eager_read_only: bool = True


def report_for(job_id: str, attempt: int, outcome: CallOutcome) -> Report:
    """Turn a tool's outcome into a report: small text inline, binaries and long text as blobs."""
    outputs: list[dict[str, Any]] = []
    blobs: list[Blob] = []
    for output in outcome.outputs:
        if isinstance(output, TextOutput) and len(output.text) <= MAX_INLINE_TEXT:
            outputs.append({"type": "text", "text": output.text})
        elif isinstance(output, TextOutput):
            blobs.append(Blob(f"output-{len(blobs) + 1}.txt", "text/plain", "file", output.text.encode()))
            outputs.append({"type": "blob", "index": len(blobs) - 1})
        elif isinstance(output, BinaryOutput):
            blobs.append(Blob(output.name, output.mime_type, output.kind, output.data))
            outputs.append({"type": "blob", "index": len(blobs) - 1})
        elif isinstance(output, ResourceLinkOutput):
            outputs.append({"type": "resource_link", "uri": output.uri, "name": output.name,
                            "mime_type": output.mime_type, "description": output.description})  # fmt: skip
    result = {
        "attempt": attempt,
        "outcome": "tool_error" if outcome.is_error else "succeeded",
        "error": (outcome.text or "the tool reported an error")[:8000] if outcome.is_error else None,
        "outputs": outputs,
        "structured": outcome.structured,
    }
    return Report(job_id, attempt, result, blobs)


def failure_report(job_id: str, attempt: int, outcome: str, error: str, *, retryable: bool) -> Report:
    body = {"attempt": attempt, "outcome": outcome, "retryable": retryable, "error": error[:8000], "outputs": []}
    return Report(job_id, attempt, body)


async def run_tool(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    """The arq task: run one attempt of a job through the MCP pool and report it."""
    agent: AgentContext = ctx["agent"]
    job_id, attempt = str(payload["job_id"]), int(payload["attempt"])
    server, _, tool = str(payload["tool"]).partition(".")
    token = job_id_var.set(job_id)
    try:
        arguments = payload.get("arguments") or {}
        async with agent.calls:  # a run is started only when it can call at once
            confirmed: asyncio.Event | None = None
            early: asyncio.Task[Report] | None = None
            if agent.eager_read_only and agent.pool.is_read_only(server, tool):
                confirmed = asyncio.Event()
                early = asyncio.create_task(_call(agent, job_id, attempt, server, tool, arguments, confirmed))
            try:
                try:
                    run, reason = await with_retries(
                        lambda: agent.client.start(job_id, attempt), attempts=START_ATTEMPTS
                    )
                except HubError as exc:
                    return f"refused: {exc}"
                if not run:
                    log.info("run skipped", extra={"reason": reason})
                    return f"skipped: {reason}"
                if early is not None and confirmed is not None:
                    confirmed.set()
                    report = await early
                else:
                    report = await _call(agent, job_id, attempt, server, tool, arguments)
            finally:
                if early is not None and confirmed is not None:
                    if not confirmed.is_set():  # refused, unreachable or aborted first: drop the call
                        early.cancel()
                    # Confirmed and aborted: the abort reached the call too, which reports it; let it.
                    await asyncio.gather(early, return_exceptions=True)
        await agent.spool.deliver(report)  # outside the slot: the next run starts while this one reports
        return str(report.result["outcome"])
    except HubUnreachable:
        log.error("hub unreachable at start; the hub will re-queue this run")
        return "hub unreachable"
    finally:
        job_id_var.reset(token)


async def _call(
    agent: AgentContext,
    job_id: str,
    attempt: int,
    server: str,
    tool: str,
    arguments: Any,
    confirmed: asyncio.Event | None = None,
) -> Report:
    """Call the tool and turn its outcome into a report. A call started before the hub confirmed the run
    (``confirmed`` not yet set) holds its events, and when cancelled unconfirmed reports nothing."""
    forwarder = EventForwarder(agent.client, job_id, attempt, ready=confirmed)
    try:
        outcome = await agent.pool.call(
            server, tool, arguments, on_progress=forwarder.on_progress, on_log=forwarder.on_log
        )
        report = report_for(job_id, attempt, outcome)
    except CallTimeout as exc:
        report = failure_report(job_id, attempt, "timed_out", str(exc), retryable=True)
    except McpCallError as exc:
        report = failure_report(job_id, attempt, "failed", str(exc), retryable=exc.retryable)
    except asyncio.CancelledError:
        if confirmed is not None and not confirmed.is_set():
            forwarder.discard()
            raise  # never confirmed: the hub did not start this run, there is nothing to report
        await forwarder.close()
        if agent.stopping.is_set():
            report = failure_report(job_id, attempt, "failed", "agent stopped", retryable=True)
        else:
            report = failure_report(job_id, attempt, "cancelled", "cancelled", retryable=False)
        await asyncio.shield(agent.spool.deliver(report))
        raise
    await forwarder.close()
    return report
