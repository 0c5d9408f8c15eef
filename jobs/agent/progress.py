"""Forwarding a run's MCP progress and log messages to the hub as job events, batched.

Events are buffered and flushed at most every ``FLUSH_INTERVAL_S`` by one background task per run,
so a tool that reports thousands of times a second costs a few requests. Progress keeps only its
latest value between flushes; log lines are all kept (up to a bound). Best effort: a lost batch
of progress is harmless, the result goes through the durable spool.

A run that starts its call before the hub confirmed it (a read-only tool, see
:mod:`jobs.agent.runner`) holds its events until ``ready`` is set: a run the hub refuses reports
nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .hub_client import HubClient, HubError, HubUnreachable

log = logging.getLogger(__name__)
FLUSH_INTERVAL_S = 0.1
MAX_BUFFERED_LOGS = 200
MAX_LOG_CHARS = 4000


class EventForwarder:
    def __init__(self, client: HubClient, job_id: str, attempt: int, ready: asyncio.Event | None = None) -> None:
        self.client = client
        self.ready = ready
        self.job_id = job_id
        self.attempt = attempt
        self._progress: dict[str, Any] | None = None
        self._logs: list[dict[str, Any]] = []
        self._dirty = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self._progress = {"progress": progress, "total": total, "message": message}
        self._kick()

    async def on_log(self, level: str, data: Any) -> None:
        if len(self._logs) < MAX_BUFFERED_LOGS:
            self._logs.append({"level": level, "message": str(data)[:MAX_LOG_CHARS]})
        self._kick()

    def _kick(self) -> None:
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    def _take(self) -> list[dict[str, Any]]:
        events = [{"kind": "log", "data": entry} for entry in self._logs]
        if self._progress is not None:
            events.append({"kind": "progress", "data": self._progress})
        self._logs, self._progress = [], None
        self._dirty.clear()
        return events

    async def _send(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        try:
            await self.client.events(self.job_id, self.attempt, events)
        except (HubUnreachable, HubError) as exc:
            log.info("progress not delivered", extra={"job_id": self.job_id, "error": str(exc)})

    async def _loop(self) -> None:
        if self.ready is not None:
            await self.ready.wait()
        while not self._closing.is_set():
            await self._dirty.wait()
            await self._send(self._take())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), FLUSH_INTERVAL_S)

    async def close(self) -> None:
        """Let an in-flight batch finish, then send what is left (before the result). Held events are
        sent only once ``ready`` is set: a run closes its forwarder after the hub confirmed it."""
        self._closing.set()
        self._dirty.set()
        if self._task is not None:
            await self._task
        await self._send(self._take())

    @property
    def idle(self) -> bool:
        """Nothing was reported: no event waits, none was sent."""
        return self._task is None and not self._logs and self._progress is None

    def discard(self) -> None:
        """Drop the held events of a run that was never confirmed."""
        if self._task is not None:
            self._task.cancel()
        self._logs, self._progress = [], None
