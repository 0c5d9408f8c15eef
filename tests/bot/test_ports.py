"""The neutral chat model: thread references survive storage, kinds and states behave."""

from __future__ import annotations

from typing import Any

import pytest

from bot.ports import (
    Attachment,
    AttachmentKind,
    JobState,
    Progress,
    ResultMessage,
    StatusMessage,
    ThreadRef,
)


def test_a_thread_ref_round_trips_through_a_plain_dict() -> None:
    ref = ThreadRef(platform="slack", channel="C024BE91L", thread="1712345678.000200", team="T0001")

    assert ref.to_dict() == {
        "platform": "slack",
        "channel": "C024BE91L",
        "thread": "1712345678.000200",
        "team": "T0001",
    }
    assert ThreadRef.from_dict(ref.to_dict()) == ref


def test_a_thread_ref_without_thread_or_team_round_trips() -> None:
    ref = ThreadRef(platform="console", channel="local")

    assert ref.to_dict() == {"platform": "console", "channel": "local", "thread": None, "team": None}
    assert ThreadRef.from_dict(ref.to_dict()) == ref


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channel": "C1"}, "thread reference field 'platform' must be a non-empty string"),
        ({"platform": "slack", "channel": ""}, "thread reference field 'channel' must be a non-empty string"),
        ({"platform": "slack", "channel": 5}, "thread reference field 'channel' must be a non-empty string"),
        (
            {"platform": "slack", "channel": "C1", "thread": 1.5},
            "thread reference field 'thread' must be a string or null",
        ),
        ({"platform": "slack", "channel": "C1", "user": "U1"}, "unknown thread reference fields: user"),
    ],
)
def test_a_malformed_thread_ref_dict_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ThreadRef.from_dict(data)
    assert str(caught.value) == message


def test_final_job_states_are_finished() -> None:
    assert {state for state in JobState if state.finished} == {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMED_OUT,
    }


@pytest.mark.parametrize(
    ("mime_type", "kind"),
    [
        ("image/png", AttachmentKind.IMAGE),
        ("Image/WEBP", AttachmentKind.IMAGE),
        ("audio/mpeg", AttachmentKind.AUDIO),
        ("application/pdf", AttachmentKind.FILE),
        ("", AttachmentKind.FILE),
    ],
)
def test_attachment_kind_follows_the_mime_type(mime_type: str, kind: AttachmentKind) -> None:
    assert AttachmentKind.for_mime_type(mime_type) is kind


@pytest.mark.parametrize(
    ("progress", "fraction"),
    [
        (Progress(3, 4), 0.75),
        (Progress(5, 4), 1.0),
        (Progress(-1, 4), 0.0),
        (Progress(3, None), None),
        (Progress(3, 0), None),
        (Progress(float("nan"), 4), None),
        (Progress(3, float("inf")), None),
    ],
)
def test_progress_fraction_is_clamped_and_none_without_a_usable_total(
    progress: Progress, fraction: float | None
) -> None:
    assert progress.fraction == fraction


def test_states_and_kinds_given_as_plain_strings_become_enums() -> None:
    status = StatusMessage("j1", "demo.echo", "running")  # type: ignore[arg-type]
    attachment = Attachment("a.wav", "audio/wav", 10, "/tmp/a.wav", "audio")  # type: ignore[arg-type]

    assert status.state is JobState.RUNNING
    assert attachment.kind is AttachmentKind.AUDIO
    with pytest.raises(ValueError):
        StatusMessage("j1", "demo.echo", "done")  # type: ignore[arg-type]


def test_result_attachments_are_stored_immutably_and_compare_equal_however_built() -> None:
    image = Attachment("cat.png", "image/png", 2048, "/tmp/cat.png", AttachmentKind.IMAGE)

    from_list = ResultMessage("j1", "demo.render", True, "done", attachments=[image])
    from_tuple = ResultMessage("j1", "demo.render", True, "done", attachments=(image,))

    assert from_list == from_tuple
    assert from_list.attachments == (image,)


def test_a_result_ends_succeeded_or_failed_by_ok_unless_its_state_says_more() -> None:
    assert ResultMessage("j", "t.x", True, "").final_state is JobState.SUCCEEDED
    assert ResultMessage("j", "t.x", False, "").final_state is JobState.FAILED
    assert ResultMessage("j", "t.x", False, "", state=JobState.CANCELLED).final_state is JobState.CANCELLED
    assert ResultMessage("j", "t.x", False, "", state=JobState.TIMED_OUT).final_state is JobState.TIMED_OUT


@pytest.mark.parametrize(
    ("ok", "state"),
    [(True, JobState.CANCELLED), (False, JobState.SUCCEEDED), (False, JobState.RUNNING), (True, JobState.QUEUED)],
)
def test_a_result_refuses_a_state_that_contradicts_it(ok: bool, state: JobState) -> None:
    with pytest.raises(ValueError, match="cannot end"):
        ResultMessage("j", "t.x", ok, "", state=state)
