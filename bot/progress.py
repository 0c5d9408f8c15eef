"""Pure progress plumbing: how often to edit a status message, and how progress and time read in chat."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

from bot.ports import JobState, Progress, ResultMessage, StatusMessage

BAR_FILL: Final = "#"
BAR_EMPTY: Final = "-"


class Decision(StrEnum):
    """What to do with an offered update."""

    SEND = "send"  # send it now
    HOLD = "hold"  # keep it (replacing any older held one) until ``due_at``; then call ``flush``
    DROP = "drop"  # stale: the job already reported a final state


class ProgressCoalescer:
    """Rate-limits the edits of one status message: at most one send per ``min_interval_s``.

    The first update and final states go out at once; in between only the latest update is kept.
    Time is passed in (``now``, any monotonic clock in seconds), so the class does no I/O.
    """

    def __init__(self, min_interval_s: float) -> None:
        if not min_interval_s >= 0:
            raise ValueError("min_interval_s must be zero or more")
        self.min_interval_s = min_interval_s
        self._last_sent_at: float | None = None
        self._held: StatusMessage | None = None
        self._finished = False

    @property
    def due_at(self) -> float | None:
        """When the held update may be sent, or None when nothing is held."""
        if self._held is None or self._last_sent_at is None:
            return None
        return self._last_sent_at + self.min_interval_s

    def offer(self, update: StatusMessage, now: float) -> Decision:
        """Decide about ``update``: send it now, hold it as the latest, or drop it as stale."""
        if update.state.finished:
            self._sent(now)
            self._finished = True
            return Decision.SEND
        if self._finished:
            return Decision.DROP
        if self._last_sent_at is None or now - self._last_sent_at >= self.min_interval_s:
            self._sent(now)
            return Decision.SEND
        self._held = update
        return Decision.HOLD

    def flush(self, now: float) -> StatusMessage | None:
        """Return the held update if its time has come (the caller sends it), else None."""
        due_at = self.due_at
        if self._held is None or due_at is None or now < due_at:
            return None
        held = self._held
        self._sent(now)
        return held

    def _sent(self, now: float) -> None:
        self._last_sent_at = now
        self._held = None


def render_bar(progress: float, total: float | None, width: int = 20) -> str:
    """``[#########-----------]  45%``; without a total, a moving marker and the count: ``[--#---] 7``."""
    width = max(width, 1)
    fraction = Progress(progress, total).fraction
    if fraction is None:
        count = progress if math.isfinite(progress) else 0.0
        marker = int(max(count, 0.0)) % width
        bar = BAR_EMPTY * marker + BAR_FILL + BAR_EMPTY * (width - marker - 1)
        return f"[{bar}] {format_count(count)}"
    filled = math.floor(fraction * width)
    return f"[{BAR_FILL * filled}{BAR_EMPTY * (width - filled)}] {math.floor(fraction * 100):>3}%"


def format_count(value: float) -> str:
    """``7`` for whole numbers, ``2.5`` otherwise (at most 3 significant decimals)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def format_duration(seconds: float) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``1 h 02 min``; negative or not finite reads ``0 ms``."""
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    milliseconds = round(seconds * 1000)
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    tenths = round(seconds * 10)
    if tenths < 600:
        return f"{tenths / 10:.1f} s"
    whole = max(math.floor(seconds), 60)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def outcome_phrase(result: ResultMessage) -> str:
    """``succeeded in 1.2 s``, ``failed after 3.0 s``, ``cancelled after 2.4 s``, ``timed out after 1 min 00 s``."""
    state, duration = result.final_state, format_duration(result.duration_s)
    return f"succeeded in {duration}" if state is JobState.SUCCEEDED else f"{state.label} after {duration}"
