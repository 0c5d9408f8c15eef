"""Slack's rendering of every message type: whole outputs compared, each one checked against Block Kit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

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
from bot.slack.blocks import (
    MAX_BLOCKS,
    MAX_INLINE_CHARS,
    MAX_SECTION_CHARS,
    RenderedResult,
    TextFile,
    approval_blocks,
    decided_blocks,
    decided_text,
    fallback_text,
    reply_blocks,
    result_blocks,
    status_blocks,
)
from tests.fakes.slack_api import check_blocks

JOB_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
IMAGE = Attachment("cat.png", "image/png", 123_456, "/data/artifacts/cat.png", AttachmentKind.IMAGE, "a red cat")
SONG = Attachment("song.mp3", "audio/mpeg", 4_500_000, "https://s3.example.com/a/song.mp3", AttachmentKind.AUDIO)
PROMPT = ApprovalPrompt(JOB_ID, "fs.delete", {"path": "/srv/old logs", "recursive": True}, "U024BE7LH", "@ops")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text} for text in texts]}


def valid(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``blocks`` after checking them as Slack would: known types, slack_sdk validation, limits, no empty text."""
    parsed = Block.parse_all(blocks)
    assert None not in parsed, "an unknown block type"
    for block in parsed:
        block.validate_json()
    check_blocks(blocks)  # nested objects, the round trip through the models, 50 blocks, total size
    return blocks


def test_a_running_status_shows_tool_state_progress_and_step_with_details_as_context() -> None:
    status = StatusMessage(
        JOB_ID, "demo.progress", JobState.RUNNING, Progress(9, 20, "denoising"), "sampling", 12.34, "gpu-box"
    )

    head = ":arrows_counterclockwise: *demo.progress*: running"
    assert valid(status_blocks(status)) == [
        section(f"{head}\n`[#########-----------]  45%` denoising\nstep: sampling"),
        context("job `1b4e28ba` · 12.3 s · worker gpu-box"),
    ]
    assert fallback_text(status) == "demo.progress: running (45%)"


def test_indeterminate_progress_shows_a_moving_marker_and_the_count() -> None:
    status = StatusMessage(JOB_ID, "demo.progress", JobState.RUNNING, Progress(3, None), elapsed_s=2)

    assert valid(status_blocks(status)) == [
        section(":arrows_counterclockwise: *demo.progress*: running\n`[---#----------------] 3`"),
        context("job `1b4e28ba` · 2.0 s"),
    ]
    assert fallback_text(status) == "demo.progress: running"


def test_every_state_reads_as_words_with_its_emoji() -> None:
    heads = {state: status_blocks(StatusMessage("j", "t", state))[0]["text"]["text"] for state in JobState}

    assert heads == {
        JobState.QUEUED: ":hourglass_flowing_sand: *t*: queued",
        JobState.AWAITING_APPROVAL: ":raised_hand: *t*: waiting for approval",
        JobState.RUNNING: ":arrows_counterclockwise: *t*: running",
        JobState.SUCCEEDED: ":white_check_mark: *t*: succeeded",
        JobState.FAILED: ":x: *t*: failed",
        JobState.CANCELLED: ":no_entry_sign: *t*: cancelled",
        JobState.TIMED_OUT: ":alarm_clock: *t*: timed out",
    }


def test_a_successful_result_shows_duration_text_and_lists_the_attachments() -> None:
    result = ResultMessage(JOB_ID, "demo.render", True, "Rendered 1 image.\nSeed 42", None, [IMAGE, SONG], 65.2)

    rendered = result_blocks(result)

    assert rendered == RenderedResult(
        text="demo.render succeeded in 1 min 05 s",
        blocks=[
            section(":white_check_mark: *demo.render*: succeeded in 1 min 05 s"),
            section("Rendered 1 image.\nSeed 42"),
            context("job `1b4e28ba`", ":paperclip: cat.png (123.5 kB), song.mp3 (4.5 MB)"),
        ],
    )
    valid(rendered.blocks)


def test_a_failed_result_shows_the_error_as_code_then_the_output() -> None:
    result = ResultMessage(
        JOB_ID, "demo.echo", False, "partial output", None, (), 3.0, "Tool failed\nValueError: text is <empty>"
    )

    rendered = result_blocks(result)

    assert rendered == RenderedResult(
        text="demo.echo failed after 3.0 s: Tool failed",
        blocks=[
            section(":x: *demo.echo*: failed after 3.0 s"),
            section("```\nTool failed\nValueError: text is &lt;empty&gt;\n```"),
            section("partial output"),
            context("job `1b4e28ba`"),
        ],
    )
    valid(rendered.blocks)


def test_a_result_with_only_structured_content_shows_it_as_json_code() -> None:
    result = ResultMessage(JOB_ID, "time.now", True, "", {"timezone": "Europe/London", "is_dst": False}, (), 0.12)

    assert valid(result_blocks(result).blocks) == [
        section(":white_check_mark: *time.now*: succeeded in 120 ms"),
        section('```\n{\n  "is_dst": false,\n  "timezone": "Europe/London"\n}\n```'),
        context("job `1b4e28ba`"),
    ]


def test_a_long_output_goes_up_as_a_file_with_a_preview_and_a_note_saying_so() -> None:
    text = "\n".join(f"line {n:03d}: " + "y" * 90 for n in range(200))  # 20,199 characters
    result = ResultMessage(JOB_ID, "demo.render", True, text, None, (), 1.0)

    rendered = result_blocks(result)

    preview = "\n".join(f"line {n:03d}: " + "y" * 90 for n in range(9))
    assert rendered == RenderedResult(
        text="demo.render succeeded in 1.0 s",
        blocks=[
            section(":white_check_mark: *demo.render*: succeeded in 1.0 s"),
            section(preview + "\n…"),
            context(
                "job `1b4e28ba`",
                ":page_facing_up: The output is too long for a message (20,199 characters); "
                "it is attached as `demo.render-1b4e28ba.txt`",
            ),
        ],
        files=(TextFile("demo.render-1b4e28ba.txt", text),),
    )
    valid(rendered.blocks)


def test_output_up_to_the_inline_limit_stays_in_the_message_over_several_sections() -> None:
    line = "z" * 99 + "\n"
    text = line * (MAX_INLINE_CHARS // len(line))  # 12,000 characters with the newlines, in lines of 100

    rendered = result_blocks(ResultMessage(JOB_ID, "demo.echo", True, text, None, (), 1.0))

    sections = rendered.blocks[1:-1]
    assert rendered.files == ()
    assert [len(s["text"]["text"]) for s in sections] == [2999, 2999, 2999, 2999]
    assert "\n".join(s["text"]["text"] for s in sections) == text.rstrip("\n")
    valid(rendered.blocks)


def test_a_long_error_of_a_failed_job_goes_up_as_its_own_file() -> None:
    error = "Traceback (most recent call last):\n" + "  File <x>, line 1\n" * 400
    result = ResultMessage(JOB_ID, "demo/echo 2", False, "", None, (), 2.0, error)

    rendered = result_blocks(result)

    assert rendered.files == (TextFile("demo_echo_2-1b4e28ba-error.txt", error),)
    assert rendered.blocks[-1] == context(
        "job `1b4e28ba`",
        ":page_facing_up: The error is too long for a message (7,635 characters); "
        "it is attached as `demo_echo_2-1b4e28ba-error.txt`",
    )
    assert rendered.blocks[1]["text"]["text"].startswith("```\nTraceback (most recent call last):\n  File &lt;x&gt;")
    valid(rendered.blocks)


def test_long_structured_content_goes_up_as_a_json_file() -> None:
    structured = {f"key{n:04d}": "v" * 50 for n in range(400)}
    rendered = result_blocks(ResultMessage(JOB_ID, "demo.stats", True, "", structured, (), 1.0))

    assert [f.name for f in rendered.files] == ["demo.stats-1b4e28ba.json"]
    assert json.loads(rendered.files[0].content) == structured
    valid(rendered.blocks)


def test_many_attachments_are_counted_not_all_listed() -> None:
    attachments = [IMAGE] * 7

    rendered = result_blocks(ResultMessage(JOB_ID, "demo.render", True, "", None, attachments, 1.0))

    assert rendered.blocks[-1] == context(
        "job `1b4e28ba`", ":paperclip: " + ", ".join(["cat.png (123.5 kB)"] * 5) + " and 2 more"
    )


def test_an_approval_prompt_shows_what_will_run_who_asked_and_two_buttons_carrying_the_job_id() -> None:
    assert valid(approval_blocks(PROMPT)) == [
        section(":raised_hand: *fs.delete*: waiting for approval\nrequested by <@U024BE7LH>"),
        section("```\npath='/srv/old logs' recursive=true\n```"),
        context("job `1b4e28ba`", "approvers: @ops"),
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "swarm_approve", "text": {"type": "plain_text", "text": "Approve"},
                 "value": JOB_ID, "style": "primary"},
                {"type": "button", "action_id": "swarm_deny", "text": {"type": "plain_text", "text": "Deny"},
                 "value": JOB_ID, "style": "danger"},
            ],
        },
    ]  # fmt: skip
    assert fallback_text(PROMPT) == "fs.delete is waiting for approval (requested by <@U024BE7LH>)"


@pytest.mark.parametrize(
    ("decision", "head", "text"),
    [
        ("approved", ":white_check_mark: *fs.delete*: Approved by <@U0ADMIN01>", "fs.delete: approved by <@U0ADMIN01>"),
        ("denied", ":no_entry_sign: *fs.delete*: Denied by <@U0ADMIN01>", "fs.delete: denied by <@U0ADMIN01>"),
    ],
)
def test_a_decided_prompt_keeps_the_content_drops_the_buttons_and_says_who_decided(
    decision: str, head: str, text: str
) -> None:
    blocks = decided_blocks(PROMPT, decision, "U0ADMIN01")  # type: ignore[arg-type]

    assert valid(blocks) == [
        section(head + "\nrequested by <@U024BE7LH>"),
        section("```\npath='/srv/old logs' recursive=true\n```"),
        context("job `1b4e28ba`", "approvers: @ops"),
    ]
    assert decided_text(PROMPT, decision, "U0ADMIN01") == text  # type: ignore[arg-type]


def test_an_unknown_decision_is_refused() -> None:
    with pytest.raises(ValueError, match="approved"):
        decided_blocks(PROMPT, "maybe", "U0ADMIN01")  # type: ignore[arg-type]


def test_a_prompt_without_arguments_says_so_and_names_that_are_not_user_ids_are_not_mentions() -> None:
    prompt = ApprovalPrompt(JOB_ID, "demo.reset", {}, "console:alice <!here>")

    assert valid(approval_blocks(prompt))[:3] == [
        section(":raised_hand: *demo.reset*: waiting for approval\nrequested by console:alice &lt;!here&gt;"),
        section("_no arguments_"),
        context("job `1b4e28ba`"),
    ]
    assert decided_blocks(prompt, "denied", "U1>|<!channel")[0] == section(
        ":no_entry_sign: *demo.reset*: Denied by U1&gt;|&lt;!channel\nrequested by console:alice &lt;!here&gt;"
    )


def test_arguments_too_long_for_the_prompt_are_shown_in_part_with_a_warning() -> None:
    prompt = ApprovalPrompt(JOB_ID, "llm.generate", {"prompt": "word " * 4000}, "U024BE7LH")

    blocks = valid(approval_blocks(prompt))

    assert [b["type"] for b in blocks] == ["section"] * 5 + ["context", "actions"]
    assert blocks[5] == context(
        "job `1b4e28ba`", ":warning: only the first 11,968 of 20,009 characters of the arguments are shown"
    )


def test_user_and_tool_text_is_escaped_so_it_cannot_ping_or_link() -> None:
    status = StatusMessage(
        "<!channel>", "<!here>", JobState.RUNNING, Progress(1, 2, "<https://evil.example|click> & more"),
        step="<@U024BE7LH>", worker="w<!everyone>",
    )  # fmt: skip
    result = ResultMessage(JOB_ID, "demo.echo", True, "<!channel> please <https://evil.example|log in>", None, (), 1.0)

    assert valid(status_blocks(status)) == [
        section(
            ":arrows_counterclockwise: *&lt;!here&gt;*: running\n"
            "`[##########----------]  50%` &lt;https://evil.example|click&gt; &amp; more\nstep: &lt;@U024BE7LH&gt;"
        ),
        context("job `&lt;!channe` · 0 ms · worker w&lt;!everyone&gt;"),
    ]
    assert result_blocks(result).blocks[1] == section("&lt;!channel&gt; please &lt;https://evil.example|log in&gt;")
    assert fallback_text(ChatReply("<!channel>")) == "&lt;!channel&gt;"


def test_a_long_step_or_progress_message_is_clipped_to_one_line() -> None:
    status = StatusMessage(JOB_ID, "demo.progress", JobState.RUNNING, step="a\nb " + "c" * 500)

    text = valid(status_blocks(status))[0]["text"]["text"]

    assert text.splitlines()[1] == "step: a b " + "c" * 195 + "…"  # 200 characters in all


def test_a_reply_is_escaped_and_an_empty_one_never_makes_an_empty_section() -> None:
    assert valid(reply_blocks(ChatReply("Unknown tool `x` <@U1|x>"))) == [section("Unknown tool `x` &lt;@U1|x&gt;")]
    assert valid(reply_blocks(ChatReply(" \n "))) == [section("_(no text)_")]
    assert fallback_text(ChatReply("")) == "(no text)"


def test_a_reply_longer_than_a_message_holds_says_how_much_is_not_shown() -> None:
    text = ("x" * 99 + "\n") * 200  # 20,000 characters

    blocks = valid(reply_blocks(ChatReply(text)))

    assert len(blocks) == 5
    assert blocks[-1] == context(":warning: 7,997 more characters are not shown")  # 8,000 less 3 cut line breaks


@pytest.mark.parametrize("size", [0, 1, MAX_SECTION_CHARS, MAX_INLINE_CHARS, MAX_INLINE_CHARS + 1, 100_000])
@pytest.mark.parametrize("shape", ["lines", "one line", "ampersands"])
def test_results_of_any_size_and_shape_stay_within_slacks_limits(size: int, shape: str) -> None:
    text = {"lines": ("ab<>&\n" * size)[:size], "one line": "q" * size, "ampersands": "&" * size}[shape]
    result = ResultMessage(JOB_ID, "demo.echo", False, text, None, (), 1.0, error=text)

    rendered = result_blocks(result)

    valid(rendered.blocks)
    assert len(rendered.blocks) <= MAX_BLOCKS
    shown = sum(len(t) for b in rendered.blocks if b["type"] == "section" for t in [b["text"]["text"]])
    assert shown <= MAX_INLINE_CHARS + 200  # the head line and code fences on top of the text itself
    assert all(f.content == text for f in rendered.files)


@pytest.mark.parametrize(
    ("state", "head"),
    [(JobState.CANCELLED, ":no_entry_sign: *demo.sleep*: cancelled after 2.4 s"),
     (JobState.TIMED_OUT, ":alarm_clock: *demo.sleep*: timed out after 2.4 s")],
)  # fmt: skip
def test_a_cancelled_or_timed_out_result_is_headed_by_its_own_state(state: JobState, head: str) -> None:
    result = ResultMessage(JOB_ID, "demo.sleep", False, "", duration_s=2.4, error="cancelled by slack:T:U", state=state)

    rendered = result_blocks(result)

    assert rendered.blocks[0] == section(head)
    assert rendered.text.startswith(f"demo.sleep {state.label} after 2.4 s")
    valid(rendered.blocks)
