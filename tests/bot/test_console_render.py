"""The console's rendering of every message type, whole lines compared, with and without colour."""

from __future__ import annotations

from bot.console.render import (
    format_size,
    render_approval,
    render_attachment,
    render_message,
    render_reply,
    render_result,
    render_status,
)
from bot.ports import (
    ApprovalPrompt,
    Attachment,
    AttachmentKind,
    ChatReply,
    JobState,
    Progress,
    ResultMessage,
    StatusMessage,
)

JOB_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
IMAGE = Attachment("cat.png", "image/png", 123_456, "/data/artifacts/cat.png", AttachmentKind.IMAGE, "a red cat")
SONG = Attachment("song.mp3", "audio/mpeg", 4_500_000, "https://s3.example.com/a/song.mp3", AttachmentKind.AUDIO)


def test_a_running_status_shows_state_time_worker_progress_bar_and_step() -> None:
    status = StatusMessage(
        JOB_ID, "demo.progress", JobState.RUNNING, Progress(9, 20, "denoising"), "sampling", 12.34, "gpu-box"
    )

    assert render_status(status) == [
        "job 1b4e28ba demo.progress: running (12.3 s, worker gpu-box)",
        "  [#########-----------]  45% denoising",
        "  step: sampling",
    ]


def test_a_queued_status_without_progress_is_one_line() -> None:
    status = StatusMessage(JOB_ID, "demo.echo", JobState.QUEUED, elapsed_s=0.25)

    assert render_status(status) == ["job 1b4e28ba demo.echo: queued (250 ms)"]


def test_status_labels_read_as_words() -> None:
    labels = {state: render_status(StatusMessage("j", "t", state))[0].removeprefix("job j t: ") for state in JobState}

    assert labels == {
        JobState.QUEUED: "queued (0 ms)",
        JobState.AWAITING_APPROVAL: "waiting for approval (0 ms)",
        JobState.RUNNING: "running (0 ms)",
        JobState.SUCCEEDED: "succeeded (0 ms)",
        JobState.FAILED: "failed (0 ms)",
        JobState.CANCELLED: "cancelled (0 ms)",
        JobState.TIMED_OUT: "timed out (0 ms)",
    }


def test_indeterminate_progress_shows_the_count() -> None:
    status = StatusMessage(JOB_ID, "demo.progress", JobState.RUNNING, Progress(3, None), elapsed_s=2)

    assert render_status(status) == [
        "job 1b4e28ba demo.progress: running (2.0 s)",
        "  [---#----------------] 3",
    ]


def test_colour_is_added_only_when_asked() -> None:
    status = StatusMessage(JOB_ID, "demo.progress", JobState.RUNNING, Progress(1, 2), "warm-up", 1.0)

    assert render_status(status, color=True) == [
        "job 1b4e28ba \x1b[1mdemo.progress\x1b[0m: \x1b[36mrunning\x1b[0m (1.0 s)",
        "  \x1b[36m[##########----------]  50%\x1b[0m",
        "  \x1b[2mstep: warm-up\x1b[0m",
    ]
    assert not any("\x1b" in line for line in render_status(status))


def test_a_successful_result_shows_duration_text_and_attachments() -> None:
    result = ResultMessage(JOB_ID, "demo.render", True, "Rendered 1 image.\nSeed 42", None, [IMAGE, SONG], 65.2)

    assert render_result(result) == [
        "job 1b4e28ba demo.render: succeeded in 1 min 05 s",
        "  Rendered 1 image.",
        "  Seed 42",
        "  saved image to /data/artifacts/cat.png (123.5 kB): a red cat",
        "  audio at https://s3.example.com/a/song.mp3 (4.5 MB)",
    ]


def test_a_result_with_only_structured_content_shows_it_as_json() -> None:
    result = ResultMessage(
        JOB_ID, "time.get_current_time", True, "", {"timezone": "Europe/London", "is_dst": False}, (), 0.12
    )

    assert render_result(result) == [
        "job 1b4e28ba time.get_current_time: succeeded in 120 ms",
        "  {",
        '    "is_dst": false,',
        '    "timezone": "Europe/London"',
        "  }",
    ]


def test_a_failed_result_shows_the_error_then_the_output() -> None:
    result = ResultMessage(
        JOB_ID, "demo.echo", False, "partial output", None, (), 3.0, "Tool failed\nValueError: text is empty"
    )

    assert render_result(result) == [
        "job 1b4e28ba demo.echo: failed after 3.0 s: Tool failed",
        "  ValueError: text is empty",
        "  partial output",
    ]
    assert render_result(ResultMessage(JOB_ID, "demo.echo", False, "", duration_s=0.5)) == [
        "job 1b4e28ba demo.echo: failed after 500 ms"
    ]


def test_attachments_saved_locally_say_where() -> None:
    document = Attachment("report.pdf", "application/pdf", 999, "./out/report.pdf", AttachmentKind.FILE)

    assert render_attachment(document) == ["saved file to ./out/report.pdf (999 B)"]
    named = Attachment("chart.png", "image/png", 10, "./out/chart.png", AttachmentKind.IMAGE, alt_text="chart.png")
    assert render_attachment(named) == ["saved image to ./out/chart.png (10 B)"], "a name for alt text adds nothing"
    assert render_attachment(IMAGE, color=True) == [
        "saved image to \x1b[1m/data/artifacts/cat.png\x1b[0m (123.5 kB): a red cat"
    ]


def test_an_approval_prompt_shows_who_asks_for_what_and_who_may_approve() -> None:
    prompt = ApprovalPrompt(JOB_ID, "shell.run", {"cmd": "rm -rf /tmp/x", "dry_run": False}, "alice", "@ops")

    assert render_approval(prompt) == [
        "job 1b4e28ba shell.run: waiting for approval (requested by alice)",
        "  arguments: cmd='rm -rf /tmp/x' dry_run=false",
        "  approvers: @ops",
    ]
    assert render_approval(ApprovalPrompt(JOB_ID, "shell.run", {}, "bob", None)) == [
        "job 1b4e28ba shell.run: waiting for approval (requested by bob)",
        "  arguments: none",
    ]


def test_replies_keep_their_lines_and_ephemeral_ones_are_dimmed_in_colour() -> None:
    assert render_reply(ChatReply("Linked.\nWelcome, alice")) == ["Linked.", "Welcome, alice"]
    assert render_reply(ChatReply("")) == [""]
    assert render_reply(ChatReply("Only you", ephemeral=True)) == ["Only you"]
    assert render_reply(ChatReply("Only you", ephemeral=True), color=True) == ["\x1b[2mOnly you\x1b[0m"]


def test_control_characters_from_tools_cannot_drive_the_terminal() -> None:
    result = ResultMessage("j", "evil.tool", False, "\x1b[2Jcleared?\x07", error="bad\x9b31m", duration_s=1)
    status = StatusMessage("j", "evil.tool", JobState.RUNNING, step="a\rb", worker="w\x1b]0;title\x07")

    assert render_result(result) == [
        "job j evil.tool: failed after 1.0 s: bad\\x9b31m",
        "  \\x1b[2Jcleared?\\x07",
    ]
    assert render_status(status) == [
        "job j evil.tool: running (0 ms, worker w\\x1b]0;title\\x07)",
        "  step: a\\x0db",
    ]


def test_render_message_dispatches_on_the_message_type() -> None:
    status = StatusMessage(JOB_ID, "demo.echo", JobState.QUEUED)
    result = ResultMessage(JOB_ID, "demo.echo", True, "hi")
    prompt = ApprovalPrompt(JOB_ID, "shell.run", {}, "bob", None)
    reply = ChatReply("pong")

    assert render_message(status) == render_status(status)
    assert render_message(result) == render_result(result)
    assert render_message(IMAGE) == render_attachment(IMAGE)
    assert render_message(prompt) == render_approval(prompt)
    assert render_message(reply, color=True) == render_reply(reply, color=True)


def test_sizes_use_powers_of_1000() -> None:
    sizes = [0, -5, 999, 1000, 12_345, 999_949, 999_960, 4_500_000, 10**13, 10**16]

    assert [format_size(size) for size in sizes] == [
        "0 B",
        "0 B",
        "999 B",
        "1.0 kB",
        "12.3 kB",
        "999.9 kB",
        "1.0 MB",
        "4.5 MB",
        "10.0 TB",
        "10000.0 TB",
    ]


def test_a_cancelled_or_timed_out_result_says_so_instead_of_failed() -> None:
    cancelled = ResultMessage(JOB_ID, "demo.sleep", False, "", duration_s=2.4, error="cancelled by console:me",
                              state=JobState.CANCELLED)  # fmt: skip
    timed_out = ResultMessage(JOB_ID, "demo.sleep", False, "", duration_s=61, error="no progress for 60 s",
                              state=JobState.TIMED_OUT)  # fmt: skip

    assert render_result(cancelled) == ["job 1b4e28ba demo.sleep: cancelled after 2.4 s: cancelled by console:me"]
    assert render_result(timed_out) == ["job 1b4e28ba demo.sleep: timed out after 1 min 01 s: no progress for 60 s"]
    assert "\x1b[33mcancelled\x1b[0m after 2.4 s" in render_result(cancelled, color=True)[0]  # yellow, not red


def test_an_error_that_only_repeats_the_state_is_not_shown_twice() -> None:
    result = ResultMessage(JOB_ID, "demo.sleep", False, "", duration_s=1, error="cancelled", state=JobState.CANCELLED)

    assert render_result(result) == ["job 1b4e28ba demo.sleep: cancelled after 1.0 s"]
