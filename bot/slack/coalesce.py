"""When to call ``chat.update`` for one job's status message (pure; the caller owns the clock and the timer).

:class:`bot.progress.ProgressCoalescer` already sends the first update and final states at once and at most one
update per interval in between, keeping only the latest. What Slack adds is an answer that says *not now*:
HTTP 429 with ``Retry-After`` (``chat.update`` is a Tier 3 method, about 50 calls a minute per workspace).
While such a window is open nothing is sent, final states included; when it closes the latest update goes.
"""

from __future__ import annotations

import math
from typing import Final

from bot.ports import StatusMessage
from bot.progress import Decision, ProgressCoalescer

STATUS_UPDATE_INTERVAL_S: Final = 1.0


class SlackStatusCoalescer:
    """One per status message: ProgressCoalescer's pacing plus Slack's Retry-After windows.

    Use: ``offer`` each update and send it on SEND; on HOLD arm a timer for ``due_at`` and then send what
    ``flush`` returns; when a send fails with a Retry-After (or another transient error), call ``retry_after``.
    Make one call at a time per message, so that an older update never overtakes a newer one.
    """

    def __init__(self, min_interval_s: float = STATUS_UPDATE_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._pacing = ProgressCoalescer(min_interval_s)
        self._retry_at = -math.inf  # nothing at all before this (Slack's Retry-After)
        self._paced_until = -math.inf  # no progress before this (one interval after a deferred send)
        self._deferred: StatusMessage | None = None  # the latest update, kept back by a Retry-After window

    @property
    def due_at(self) -> float | None:
        """When ``flush`` will next return an update, or None when nothing is waiting."""
        if self._deferred is not None:
            return self._not_before(self._deferred)
        held_due = self._pacing.due_at
        return None if held_due is None else max(held_due, self._retry_at, self._paced_until)

    def offer(self, update: StatusMessage, now: float) -> Decision:
        """Decide about ``update``: send it now, hold it as the latest, or drop it as stale."""
        decision = self._pacing.offer(update, now)
        if decision is Decision.HOLD:
            self._deferred = None  # the pacing coalescer now holds something newer
        elif decision is Decision.SEND:
            if now < self._not_before(update):
                self._deferred = update
                return Decision.HOLD
            self._deferred = None
        return decision

    def flush(self, now: float) -> StatusMessage | None:
        """Return the waiting update if its time has come (the caller sends it), else None."""
        if self._deferred is not None:
            if now < self._not_before(self._deferred):
                return None
            update, self._deferred = self._deferred, None
            self._paced_until = now + self.min_interval_s
            return update
        if now < max(self._retry_at, self._paced_until):
            return None
        return self._pacing.flush(now)

    def retry_after(self, update: StatusMessage, now: float, delay_s: float) -> None:
        """Sending ``update`` failed; retry after ``delay_s`` (e.g. Retry-After) with the latest update then."""
        if not delay_s >= 0:
            raise ValueError("delay_s must be zero or more")
        self._retry_at = max(self._retry_at, now + delay_s)
        if self._deferred is None and self._pacing.due_at is None:
            self._deferred = update  # nothing newer is waiting, so the failed update goes again

    def _not_before(self, update: StatusMessage) -> float:
        if update.state.finished:
            return self._retry_at
        return max(self._retry_at, self._paced_until)
