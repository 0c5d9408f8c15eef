"""Pacing chat.update calls: about one per second per message, final states at once, Retry-After honoured."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from bot.ports import JobState, Progress, StatusMessage
from bot.progress import Decision
from bot.slack.coalesce import SlackStatusCoalescer


def running(step: int) -> StatusMessage:
    return StatusMessage("job-1", "demo.progress", JobState.RUNNING, Progress(step, 1000))


def finished(state: JobState = JobState.SUCCEEDED) -> StatusMessage:
    return StatusMessage("job-1", "demo.progress", state, Progress(1000, 1000))


Send = Callable[[StatusMessage, float], float | None]  # returns a Retry-After in seconds, or None when accepted


def simulate(
    coalescer: SlackStatusCoalescer, events: Sequence[tuple[float, StatusMessage]], send: Send, until: float
) -> list[tuple[float, StatusMessage]]:
    """Offer each event at its time and flush whenever the coalescer is due, as the hub's timer would."""
    sent: list[tuple[float, StatusMessage]] = []

    def attempt(update: StatusMessage, now: float) -> None:
        retry_after_s = send(update, now)
        if retry_after_s is None:
            sent.append((now, update))
        else:
            coalescer.retry_after(update, now, retry_after_s)

    def flush_until(limit: float) -> None:
        while (due := coalescer.due_at) is not None and due <= limit:
            update = coalescer.flush(due)
            assert update is not None
            attempt(update, due)

    for now, update in events:
        flush_until(now)
        if coalescer.offer(update, now) is Decision.SEND:
            attempt(update, now)
    flush_until(until)
    return sent


def accept(update: StatusMessage, now: float) -> float | None:
    return None


def test_100_progress_events_a_second_make_about_one_call_a_second_and_the_latest_wins() -> None:
    events = [(n / 100, running(n)) for n in range(500)]  # five seconds

    sent = simulate(SlackStatusCoalescer(), events, accept, until=10.0)

    assert [now for now, _ in sent] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [update for _, update in sent] == [running(0), running(99), running(199), running(299), running(399),
                                              running(499)]  # fmt: skip


def test_a_final_state_goes_at_once_and_later_progress_is_dropped() -> None:
    coalescer = SlackStatusCoalescer()
    events = [(0.0, running(1)), (0.1, running(2)), (0.2, finished()), (0.3, running(3))]

    sent = simulate(coalescer, events, accept, until=10.0)

    assert sent == [(0.0, running(1)), (0.2, finished())]
    assert coalescer.offer(running(4), 0.4) is Decision.DROP


def test_nothing_is_sent_inside_a_retry_after_window_then_the_latest_goes() -> None:
    limited = {0.0}

    def send(update: StatusMessage, now: float) -> float | None:
        return 3 if now in limited else None

    events = [(n / 10, running(n)) for n in range(20)]  # two seconds of progress, the first call refused

    sent = simulate(SlackStatusCoalescer(), events, send, until=10.0)

    assert sent == [(3.0, running(19))]


def test_a_refused_final_state_is_sent_again_when_the_window_closes() -> None:
    calls: list[float] = []

    def send(update: StatusMessage, now: float) -> float | None:
        calls.append(now)
        return 2 if len(calls) == 1 else None

    sent = simulate(SlackStatusCoalescer(), [(5.0, finished(JobState.FAILED))], send, until=60.0)

    assert calls == [5.0, 7.0]
    assert sent == [(7.0, finished(JobState.FAILED))]


def test_a_final_state_waits_for_an_open_window_but_not_for_pacing() -> None:
    coalescer = SlackStatusCoalescer()
    coalescer.offer(running(1), 0.0)
    coalescer.retry_after(running(1), 0.0, 2.0)

    assert coalescer.offer(finished(), 1.0) is Decision.HOLD
    assert coalescer.due_at == 2.0
    assert coalescer.flush(1.9) is None
    assert coalescer.flush(2.0) == finished()
    assert coalescer.offer(finished(JobState.CANCELLED), 2.1) is Decision.SEND  # no pacing for final states


def test_after_a_deferred_send_progress_waits_one_interval_again() -> None:
    coalescer = SlackStatusCoalescer(min_interval_s=1.0)
    coalescer.offer(running(1), 0.0)
    coalescer.retry_after(running(1), 0.0, 5.0)

    assert coalescer.flush(5.0) == running(1)
    assert coalescer.offer(running(2), 5.1) is Decision.HOLD
    assert coalescer.due_at == 6.0
    assert coalescer.flush(6.0) == running(2)


def test_a_newer_held_update_replaces_the_one_that_was_refused() -> None:
    coalescer = SlackStatusCoalescer(min_interval_s=1.0)
    coalescer.offer(running(1), 0.0)
    coalescer.offer(running(2), 0.5)  # held by the pacing
    coalescer.retry_after(running(1), 0.6, 3.0)

    assert coalescer.due_at == 3.6
    assert coalescer.flush(3.5) is None
    assert coalescer.flush(3.6) == running(2)
    assert coalescer.due_at is None


def test_a_zero_delay_retries_at_once_and_a_negative_one_is_refused() -> None:
    coalescer = SlackStatusCoalescer()
    coalescer.offer(running(1), 0.0)
    coalescer.retry_after(running(1), 0.0, 0.0)

    assert coalescer.flush(0.0) == running(1)
    with pytest.raises(ValueError, match="delay_s"):
        coalescer.retry_after(running(1), 0.0, -1.0)
