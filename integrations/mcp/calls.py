"""Per-call bookkeeping: the idle/max deadline and in-order delivery of progress and log messages.

The SDK runs each progress callback in a task of its own, so a slow callback could let a later
notification overtake an earlier one. :class:`CallWatch` funnels both kinds through one FIFO lock,
and :meth:`CallWatch.drain` lets the call return only after every callback has run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from integrations.mcp.errors import CallTimeout

ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]
"""``on_progress(progress, total, message)`` for each MCP progress notification of a call."""

LogCallback = Callable[[str, Any], Awaitable[None]]
"""``on_log(level, data)`` for each MCP logging message the server sends during a call."""

# A deadline this close to the hard limit counts as having hit it (timer granularity).
_DEADLINE_SLACK_S = 0.001

logger = logging.getLogger(__name__)


class CallWatch:
    """Deadline and callbacks of one call.

    The call may stay silent for ``idle_timeout_s``; each progress notification moves the deadline
    to ``idle_timeout_s`` from now, never past ``max_call_s`` after the start.
    """

    def __init__(
        self,
        *,
        idle_timeout_s: float,
        max_call_s: float,
        on_progress: ProgressCallback | None = None,
        on_log: LogCallback | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.started = self._loop.time()
        self._idle_timeout_s = idle_timeout_s
        self._hard_deadline = self.started + max_call_s
        self._on_progress = on_progress
        self._on_log = on_log
        self._timeout: asyncio.Timeout | None = None
        self._lock = asyncio.Lock()
        self._pending = 0

    @property
    def first_deadline(self) -> float:
        """The loop time at which a silent call times out."""
        return min(self.started + self._idle_timeout_s, self._hard_deadline)

    def attach(self, timeout: asyncio.Timeout) -> None:
        """Bind the entered ``asyncio.timeout_at`` context that progress reschedules."""
        self._timeout = timeout

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """Progress callback for the SDK: extend the deadline, then pass it on in order."""
        if self._timeout is not None and not self._timeout.expired():
            self._timeout.reschedule(min(self._loop.time() + self._idle_timeout_s, self._hard_deadline))
        if self._on_progress is not None:
            await self._deliver(self._on_progress, progress, total, message)

    @property
    def wants_logs(self) -> bool:
        """Whether the caller asked for the server's log messages."""
        return self._on_log is not None

    async def log(self, level: str, data: Any) -> None:
        """Pass one of the server's log messages to the caller, in order with progress."""
        if self._on_log is not None:
            await self._deliver(self._on_log, level, data)

    async def drain(self) -> None:
        """Wait until every callback already scheduled for this call has run."""
        if self._on_progress is None and self._on_log is None:
            return
        await asyncio.sleep(0)  # let notification tasks the SDK just spawned reach the lock
        while self._pending:
            async with self._lock:  # queued behind every callback that arrived before
                pass
            await asyncio.sleep(0)

    def timeout_error(self, server: str, tool: str) -> CallTimeout:
        """The error for this call's expired deadline: silent too long, or past ``max_call_s``."""
        now = self._loop.time()
        elapsed_s = now - self.started
        if now >= self._hard_deadline - _DEADLINE_SLACK_S:
            reason = f"ran longer than max_call_s ({self._hard_deadline - self.started:g} s)"
        else:
            reason = f"reported no progress for idle_timeout_s ({self._idle_timeout_s:g} s)"
        return CallTimeout(server, f"tool {tool!r} {reason}; cancelled", elapsed_s=elapsed_s)

    async def _deliver(self, callback: Callable[..., Awaitable[None]], *args: Any) -> None:
        self._pending += 1
        try:
            async with self._lock:  # asyncio.Lock is FIFO: arrival order is kept
                await callback(*args)
        except Exception:
            logger.exception("call callback %r raised", callback)
        finally:
            self._pending -= 1
