"""Starting and running the agent: MCP pool, registration, heart-beats, spool and the arq worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from arq.connections import RedisSettings

from integrations.mcp.config import ConfigError, load_agent_config
from integrations.mcp.discovery import ToolSpec
from integrations.mcp.pool import McpPool

from ..queue import WakeableWorker
from .heartbeat import heartbeat_loop
from .hub_client import HubClient, HubError, with_retries
from .runner import AgentContext, run_tool
from .spool import Spool

log = logging.getLogger(__name__)
T = TypeVar("T")
RUN_MARGIN_S = 60
# arq runs up to this many runs per allowed call: the extra ones are reporting their results (or
# waiting for a call slot), so delivering a result does not hold up the next call. A run may wait
# for a slot as long as a call may last, hence its timeout covers a wait and a call.
RUNS_PER_CALL_SLOT = 2


@dataclass(frozen=True)
class AgentOptions:
    hub_url: str
    api_key: str
    config_path: Path
    redis_url: str
    spool_dir: Path
    labels: dict[str, str]


def registration(pool: McpPool, options: AgentOptions, max_concurrency: int, session: dict[str, Any]) -> dict[str, Any]:
    """What the agent tells the hub about itself: its tools (with what decides whether a call lost with this
    agent may run again), labels, capacity, and which process it is."""
    tools: list[ToolSpec] = [tool for server_tools in pool.tools().values() for tool in server_tools]
    return {
        "tools": [
            {
                "name": f"{t.server}.{t.name}",
                "description": t.description,
                "input_schema": t.input_schema,
                "read_only": t.read_only,
                "idempotent": t.idempotent,
                "safe_to_repeat": pool.safe_to_repeat(t.server, t.name),
            }
            for t in tools
        ],
        "labels": options.labels,
        "max_concurrency": max_concurrency,
        "session": session,
    }


def no_tools_warning(config_path: Path, servers: list[str], tools: int) -> str | None:
    """What an agent that offers nothing must say out loud at start-up (it would take no job, silently)."""
    if not servers:
        return f"{config_path} configures no MCP server (add a [servers.NAME] table): this agent offers no tools"
    if tools == 0:
        return (f"the MCP servers of {config_path} ({', '.join(servers)}) listed no tools: this agent offers none "
                "for now (a server that failed to start is retried in the background; its log says why)")  # fmt: skip
    return None


def new_session() -> dict[str, Any]:
    """This process, as the hub knows it: one key is one agent, held by one process at a time."""
    return {"id": uuid.uuid4().hex, "host": socket.gethostname()[:255], "pid": os.getpid()}


async def run_agent(options: AgentOptions, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set; in-flight calls are cancelled (and reported) on the way out."""
    config = load_agent_config(options.config_path)
    session = new_session()
    async with aiohttp.ClientSession() as http:
        client = HubClient(http, options.hub_url, options.api_key, session_id=session["id"])
        pool_box: list[McpPool] = []

        async def tools_changed(server: str, tools: list[ToolSpec]) -> None:
            if pool_box:
                log.info("tools changed; re-registering", extra={"server": server, "tools": len(tools)})
                body = registration(pool_box[0], options, config.max_concurrency, session)
                await with_retries(lambda: client.register(body, restarted=False))

        async with McpPool(config, on_tools_changed=tools_changed) as pool:
            pool_box.append(pool)
            body = registration(pool, options, config.max_concurrency, session)
            registering = with_retries(lambda: client.register(body, restarted=True))
            if (registered := await _unless_stopped(stop, registering)) is None:
                log.info("stopped before the hub answered the registration")
                return
            log.info("registered", extra={"worker": registered["name"], "tools": len(body["tools"])})
            if (warning := no_tools_warning(options.config_path, list(config.servers), len(body["tools"]))) is not None:
                print(f"garageswarm agent: warning: {warning}", file=sys.stderr, flush=True)
            spool = Spool(options.spool_dir, client)
            stopping = asyncio.Event()
            worker = WakeableWorker(
                functions=[run_tool], queue_name=registered["queue"], sole_consumer=True,
                redis_settings=RedisSettings.from_dsn(options.redis_url), allow_abort_jobs=True, max_tries=1,
                max_jobs=config.max_concurrency * RUNS_PER_CALL_SLOT, keep_result=3600, handle_signals=False,
                job_timeout=config.max_call_s * RUNS_PER_CALL_SLOT + RUN_MARGIN_S,
                ctx={"agent": AgentContext(pool, client, spool, stopping, asyncio.Semaphore(config.max_concurrency),
                                           eager_read_only=config.eager_read_only)},
            )  # fmt: skip
            main = asyncio.create_task(worker.main())
            helpers = [
                asyncio.create_task(spool.run()),
                asyncio.create_task(
                    heartbeat_loop(client, float(registered["heartbeat_interval_s"]), lambda: worker.job_counter)
                ),
            ]
            waiter = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([main, *helpers, waiter], return_when=asyncio.FIRST_COMPLETED)
            stopping.set()
            await _cancel(main)
            with contextlib.suppress(asyncio.CancelledError):
                await worker.close()  # cancels in-flight runs, which report themselves as retryable
            for task in [*helpers, waiter]:
                await _cancel(task)
            for task in done:
                if task is not waiter and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]


async def _unless_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, T]) -> T | None:
    """``work``'s result, or None when ``stop`` is set first (``work`` is then cancelled): a stop asked
    while the hub is still unreachable must not wait for the hub."""
    task, waiter = asyncio.create_task(work), asyncio.create_task(stop.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    await _cancel(waiter)
    if task.done():
        return task.result()
    await _cancel(task)
    return None


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def main(options: AgentOptions) -> int:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_agent(options, stop)

    try:
        asyncio.run(runner())
    except ConfigError as exc:  # the configuration file is read first, before anything starts
        print(f"garageswarm agent: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:  # a wrong or revoked key, or a hub that refuses this agent's registration
        if exc.status == 409:  # another process holds this agent's key, or took it over: the hub says where
            print(f"garageswarm agent: {exc.message}", file=sys.stderr)
        else:
            print(f"garageswarm agent: the hub refused this agent ({exc})", file=sys.stderr)
        return 1
    return 0
