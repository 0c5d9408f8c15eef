"""Coalescing status edits, the progress bar and durations as people read them."""

from __future__ import annotations

import pytest

from bot.ports import JobState, Progress, StatusMessage
from bot.progress import Decision, ProgressCoalescer, format_duration, render_bar


def running(step: int, total: int = 100) -> StatusMessage:
    return StatusMessage("job-1", "demo.progress", JobState.RUNNING, Progress(step, total), elapsed_s=step / 100)


def finished(state: JobState) -> StatusMessage:
    return StatusMessage("job-1", "demo.progress", state, Progress(100, 100), elapsed_s=1.0)


def test_100_updates_within_a_second_are_sent_at_most_twice_and_the_latest_wins() -> None:
    coalescer = ProgressCoalescer(min_interval_s=1.0)
    sent: list[StatusMessage] = []
    for step in range(100):
        now = step * 0.01
        if coalescer.offer(running(step), now) is Decision.SEND:
            sent.append(running(step))
        flushed = coalescer.flush(now)
        if flushed is not None:
            sent.append(flushed)
    flushed = coalescer.flush(1.0)
    if flushed is not None:
        sent.append(flushed)

    assert sent == [running(0), running(99)]
    assert coalescer.flush(5.0) is None


def test_the_first_update_is_sent_at_once_and_later_ones_are_held_until_due() -> None:
    coalescer = ProgressCoalescer(min_interval_s=2.0)

    assert coalescer.offer(running(1), 10.0) is Decision.SEND
    assert coalescer.due_at is None
    assert coalescer.offer(running(2), 10.5) is Decision.HOLD
    assert coalescer.offer(running(3), 11.0) is Decision.HOLD
    assert coalescer.due_at == 12.0
    assert coalescer.flush(11.9) is None
    assert coalescer.flush(12.0) == running(3)
    assert coalescer.due_at is None
    assert coalescer.offer(running(4), 13.0) is Decision.HOLD
    assert coalescer.due_at == 14.0


def test_an_update_after_the_interval_is_sent_at_once_and_replaces_the_held_one() -> None:
    coalescer = ProgressCoalescer(min_interval_s=1.0)
    coalescer.offer(running(1), 0.0)
    coalescer.offer(running(2), 0.5)

    assert coalescer.offer(running(3), 1.2) is Decision.SEND
    assert coalescer.flush(10.0) is None


@pytest.mark.parametrize("state", [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT])
def test_final_states_are_never_delayed_and_discard_held_progress(state: JobState) -> None:
    coalescer = ProgressCoalescer(min_interval_s=60.0)
    coalescer.offer(running(1), 0.0)
    coalescer.offer(running(2), 0.1)

    assert coalescer.offer(finished(state), 0.2) is Decision.SEND
    assert coalescer.flush(1000.0) is None


def test_progress_arriving_after_a_final_state_is_dropped_as_stale() -> None:
    coalescer = ProgressCoalescer(min_interval_s=1.0)
    coalescer.offer(finished(JobState.SUCCEEDED), 0.0)

    assert coalescer.offer(running(50), 5.0) is Decision.DROP
    assert coalescer.flush(10.0) is None
    assert coalescer.offer(finished(JobState.FAILED), 5.1) is Decision.SEND


def test_a_zero_interval_sends_everything_and_a_negative_one_is_refused() -> None:
    coalescer = ProgressCoalescer(min_interval_s=0.0)

    assert [coalescer.offer(running(step), 0.0) for step in range(3)] == [Decision.SEND] * 3
    with pytest.raises(ValueError) as caught:
        ProgressCoalescer(min_interval_s=-1.0)
    assert str(caught.value) == "min_interval_s must be zero or more"


@pytest.mark.parametrize(
    ("progress", "total", "width", "bar"),
    [
        (45, 100, 20, "[#########-----------]  45%"),
        (0, 100, 20, "[--------------------]   0%"),
        (100, 100, 20, "[####################] 100%"),
        (99.9, 100, 20, "[###################-]  99%"),
        (3, 7, 10, "[####------]  42%"),
        (150, 100, 10, "[##########] 100%"),
        (-5, 100, 10, "[----------]   0%"),
        (1, 3, 1, "[-]  33%"),
        (2, 0, 10, "[--#-------] 2"),
        (7, None, 20, "[-------#------------] 7"),
        (23, None, 10, "[---#------] 23"),
        (2.5, None, 5, "[--#--] 2.5"),
        (float("nan"), None, 5, "[#----] 0"),
        (float("nan"), 10, 5, "[#----] 0"),
    ],
)
def test_render_bar(progress: float, total: float | None, width: int, bar: str) -> None:
    assert render_bar(progress, total, width) == bar


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 ms"),
        (0.85, "850 ms"),
        (0.0004, "0 ms"),
        (0.9996, "1.0 s"),
        (1, "1.0 s"),
        (12.34, "12.3 s"),
        (59.94, "59.9 s"),
        (59.96, "1 min 00 s"),
        (245, "4 min 05 s"),
        (3599.9, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (3725, "1 h 02 min"),
        (100 * 3600 + 59, "100 h 00 min"),
        (-3, "0 ms"),
        (float("nan"), "0 ms"),
        (float("inf"), "0 ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
