"""Folding a job's events into what its thread shows, and the final message built from it."""

from __future__ import annotations

from typing import Any

import pytest

from bot.ports import JobState, Progress
from bot.timeline import Timeline, apply_event, fold, result_message, status_message

JOB = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
T0 = "2026-11-26T10:00:00+00:00"


def event(seq: int, kind: str, at_s: float = 0.0, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "kind": kind, "data": data, "at": f"2026-11-26T10:00:{at_s:06.3f}+00:00"}


def test_the_state_follows_the_events_in_sequence_order_whatever_order_they_arrive_in() -> None:
    events = [event(3, "started", 1, worker="gpu-1"), event(1, "created"), event(2, "queued", 0.5, worker="gpu-1"),
              event(4, "succeeded", 3.5)]  # fmt: skip

    timeline = fold(JOB, "demo.echo", events)

    assert (timeline.state, timeline.worker, timeline.last_seq) == (JobState.SUCCEEDED, "gpu-1", 4)
    assert timeline.elapsed_s(now=None) == 3.5  # type: ignore[arg-type]  # finished: now is not consulted


def test_an_event_already_seen_changes_nothing() -> None:
    running = fold(JOB, "demo.echo", [event(1, "created"), event(2, "started", 1)])

    assert apply_event(running, event(2, "failed", 2, error="late duplicate")) is running
    assert apply_event(running, event(1, "queued")) is running


def test_the_progress_message_is_shown_once_and_the_last_one_stays_while_the_bar_has_none() -> None:
    timeline = fold(JOB, "demo.progress", [event(1, "started"), event(2, "progress", progress=1, total=3,
                                                                       message="step 1/3")])  # fmt: skip
    assert (timeline.progress, timeline.step) == (Progress(1, 3, "step 1/3"), None)

    silent = apply_event(timeline, event(3, "progress", progress=2, total=3))
    assert (silent.progress, silent.step) == (Progress(2, 3, None), "step 1/3")
    assert apply_event(silent, event(4, "progress", progress=2.5)).step == "step 1/3"
    assert apply_event(silent, event(4, "progress", progress=3, total=3, message="done")).step is None


def test_a_retry_goes_back_to_queued_and_says_why() -> None:
    timeline = fold(JOB, "demo.sleep", [event(1, "started"), event(2, "progress", progress=1, total=2),
                                        event(3, "retried", reason="agent lost")])  # fmt: skip

    assert (timeline.state, timeline.progress, timeline.step) == (JobState.QUEUED, None, "retrying: agent lost")


def test_malformed_progress_is_ignored() -> None:
    timeline = fold(JOB, "demo.progress", [event(1, "started"), event(2, "progress", progress="lots")])

    assert timeline.progress is None and timeline.last_seq == 2


@pytest.mark.parametrize(
    ("kind", "data", "state", "error"),
    [("succeeded", {}, JobState.SUCCEEDED, None),
     ("failed", {"error": "boom"}, JobState.FAILED, "boom"),
     ("cancelled", {"error": "cancelled by console:ada"}, JobState.CANCELLED, "cancelled by console:ada"),
     ("timed_out", {}, JobState.TIMED_OUT, "timed_out")],
)  # fmt: skip
def test_the_result_message_carries_how_the_job_ended(
    kind: str, data: dict[str, Any], state: JobState, error: str | None
) -> None:
    timeline = fold(JOB, "demo.sleep", [event(1, "created"), event(2, "started", 1), event(3, kind, 2.5, **data)])
    result = {"outputs": [{"type": "text", "text": "a"}, {"type": "resource_link", "name": "r", "uri": "x://r"}]}

    message = result_message(timeline, result, (), now=None)  # type: ignore[arg-type]

    assert (message.ok, message.final_state, message.error, message.duration_s) == (
        state is JobState.SUCCEEDED, state, error, 2.5)  # fmt: skip
    assert message.text == "a\nr: x://r"


def test_a_status_message_shows_the_time_since_the_first_event() -> None:
    from datetime import datetime

    timeline = fold(JOB, "demo.sleep", [event(1, "created"), event(2, "started", 1, worker="gpu-1")])

    status = status_message(timeline, datetime.fromisoformat("2026-11-26T10:00:04+00:00"))

    assert (status.state, status.elapsed_s, status.worker) == (JobState.RUNNING, 4.0, "gpu-1")
    assert Timeline(JOB, "t.x").elapsed_s(datetime.fromisoformat(T0)) == 0.0
