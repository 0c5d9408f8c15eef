"""Discord rendering of the neutral chat model: whole payloads compared, limits kept, nothing cut silently."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.discord.components import (
    ApprovalDecision,
    FormPart,
    TextFile,
    approval_custom_id,
    approval_message,
    decided_message,
    parse_approval_custom_id,
    reply_message,
    result_message,
    status_message,
)
from bot.discord.limits import embed_chars
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
NO_MENTIONS: dict[str, list[str]] = {"parse": []}
IMAGE = Attachment("cat.png", "image/png", 123_456, "/data/artifacts/cat.png", AttachmentKind.IMAGE, "a red cat")
SONG = Attachment("song.mp3", "audio/mpeg", 4_500_000, "https://s3.example.com/a/song.mp3", AttachmentKind.AUDIO)
PROMPT = ApprovalPrompt(JOB_ID, "shell.run", {"command": "rm -rf build", "dry_run": False}, "<@81234567890>", "ops")


def embed_of(payload: dict[str, Any]) -> dict[str, Any]:
    embeds: list[dict[str, Any]] = payload["embeds"]
    assert len(embeds) == 1
    return embeds[0]


def assert_within_limits(payload: dict[str, Any]) -> None:
    embeds = payload.get("embeds", [])
    assert len(payload.get("content") or "") <= 2_000
    assert len(embeds) <= 10
    assert sum(embed_chars(embed) for embed in embeds) <= 6_000
    for embed in embeds:
        assert len(embed.get("description", "")) <= 4_096
        assert len(embed.get("title", "")) <= 256
        assert all(len(item["value"]) <= 1_024 and item["value"].strip() for item in embed.get("fields", []))


# --- status ---------------------------------------------------------------------------------------------------


def test_a_running_status_shows_bar_step_elapsed_and_worker() -> None:
    status = StatusMessage(
        JOB_ID, "demo.progress", JobState.RUNNING, Progress(9, 20, "denoising"), "sampling", 12.34, "gpu-box"
    )

    assert status_message(status) == {
        "embeds": [
            {
                "title": "demo.progress: running",
                "color": 0x5865F2,
                "footer": {"text": "job 1b4e28ba"},
                "description": "`[#########-----------]  45%` denoising",
                "fields": [
                    {"name": "Step", "value": "sampling", "inline": True},
                    {"name": "Elapsed", "value": "12.3 s", "inline": True},
                    {"name": "Worker", "value": "gpu-box", "inline": True},
                ],
            }
        ],
        "allowed_mentions": NO_MENTIONS,
    }


def test_a_queued_status_without_progress_shows_only_the_elapsed_time() -> None:
    status = StatusMessage(JOB_ID, "demo.echo", JobState.QUEUED, elapsed_s=0.25, step="  ", worker="")

    assert status_message(status) == {
        "embeds": [
            {
                "title": "demo.echo: queued",
                "color": 0x95A5A6,
                "footer": {"text": "job 1b4e28ba"},
                "fields": [{"name": "Elapsed", "value": "250 ms", "inline": True}],
            }
        ],
        "allowed_mentions": NO_MENTIONS,
    }


@pytest.mark.parametrize(
    ("state", "title", "color"),
    [
        (JobState.AWAITING_APPROVAL, "t.x: waiting for approval", 0xFEE75C),
        (JobState.SUCCEEDED, "t.x: succeeded", 0x57F287),
        (JobState.FAILED, "t.x: failed", 0xED4245),
        (JobState.CANCELLED, "t.x: cancelled", 0x95A5A6),
        (JobState.TIMED_OUT, "t.x: timed out", 0xED4245),
    ],
)
def test_every_state_has_a_title_and_colour(state: JobState, title: str, color: int) -> None:
    embed = embed_of(status_message(StatusMessage(JOB_ID, "t.x", state)))

    assert (embed["title"], embed["color"]) == (title, color)


def test_progress_without_a_total_shows_the_count() -> None:
    embed = embed_of(status_message(StatusMessage(JOB_ID, "t.x", JobState.RUNNING, Progress(7))))

    assert embed["description"] == "`[-------#------------] 7`"


def test_a_long_step_and_progress_message_are_shortened_visibly() -> None:
    status = StatusMessage(JOB_ID, "t.x", JobState.RUNNING, Progress(1, 2, "m" * 5_000), "s" * 2_000)
    embed = embed_of(status_message(status))

    assert embed["description"].endswith("m…") and len(embed["description"]) == 4_096
    assert embed["fields"][0]["value"] == "s" * 1_023 + "…"


# --- results --------------------------------------------------------------------------------------------------


def test_a_short_result_is_one_embed_with_the_text() -> None:
    rendered = result_message(ResultMessage(JOB_ID, "demo.echo", True, "hello @everyone", duration_s=0.85))

    assert rendered.files == ()
    assert rendered.payload == {
        "embeds": [
            {
                "title": "demo.echo succeeded in 850 ms",
                "color": 0x57F287,
                "footer": {"text": "job 1b4e28ba"},
                "description": "hello @everyone",
            }
        ],
        "allowed_mentions": NO_MENTIONS,
    }


def test_a_failed_result_shows_the_error_then_the_output() -> None:
    result = ResultMessage(JOB_ID, "t.x", False, "partial output", duration_s=61, error="exit status 2")

    assert result_message(result).payload == {
        "embeds": [
            {
                "title": "t.x failed after 1 min 01 s",
                "color": 0xED4245,
                "footer": {"text": "job 1b4e28ba"},
                "description": "**Error**\nexit status 2\n\npartial output",
            }
        ],
        "allowed_mentions": NO_MENTIONS,
    }


def test_a_structured_result_is_a_json_code_block_that_cannot_be_broken_out_of() -> None:
    result = ResultMessage(JOB_ID, "t.x", True, "", structured={"b": 1, "a": "```@here```"})

    assert embed_of(result_message(result).payload)["description"] == (
        '```json\n{\n  "a": "`\u200b``@here`\u200b``",\n  "b": 1\n}\n```'
    )


def test_attachments_are_listed_in_a_field() -> None:
    result = ResultMessage(JOB_ID, "t.x", True, "done", attachments=[IMAGE, SONG])

    assert embed_of(result_message(result).payload)["fields"] == [
        {
            "name": "Attachments",
            "value": "`cat.png` (image, 123.5 kB)\n[song.mp3](https://s3.example.com/a/song.mp3) (audio, 4.5 MB)",
            "inline": False,
        }
    ]


def test_too_many_attachments_end_with_how_many_more() -> None:
    many = [Attachment(f"image-{i:03}.png", "image/png", 1_000, f"/a/{i}.png", AttachmentKind.IMAGE) for i in range(80)]
    value = embed_of(result_message(ResultMessage(JOB_ID, "t.x", True, "", attachments=many)).payload)["fields"][0]

    lines = value["value"].splitlines()
    assert len(value["value"]) <= 1_024
    assert lines[0] == "`image-000.png` (image, 1.0 kB)"
    assert lines[-1] == f"… and {80 - len(lines) + 1} more"


def test_text_that_fits_exactly_is_not_attached() -> None:
    rendered = result_message(ResultMessage(JOB_ID, "t.x", True, "x" * 4_096))

    assert rendered.files == () and embed_of(rendered.payload)["description"] == "x" * 4_096


def test_long_output_is_attached_in_full_with_a_preview_that_says_so() -> None:
    text = "".join(f"line {i}\n" for i in range(2_000))
    rendered = result_message(ResultMessage(JOB_ID, "t.x", True, text))
    description = embed_of(rendered.payload)["description"]

    assert rendered.files == (TextFile("1b4e28ba-output.txt", text),)
    assert rendered.payload["attachments"] == [{"id": "0", "filename": "1b4e28ba-output.txt"}]
    assert description.startswith("line 0\nline 1\n")
    assert description.endswith(f"\n… the full output ({len(text):,} characters) is attached as 1b4e28ba-output.txt")
    assert text.startswith(description.rsplit("\n…", 1)[0] + "\n")  # the preview ends at a whole line
    assert_within_limits(rendered.payload)


def test_a_long_error_and_long_output_are_both_attached() -> None:
    result = ResultMessage(JOB_ID, "t.x", False, "o" * 9_000, error="e" * 5_000)
    rendered = result_message(result)

    assert rendered.files == (TextFile("1b4e28ba-error.txt", "e" * 5_000), TextFile("1b4e28ba-output.txt", "o" * 9_000))
    description = embed_of(rendered.payload)["description"]
    assert description.startswith("**Error**\neee")
    assert "is attached as 1b4e28ba-error.txt\n\nooo" in description
    assert_within_limits(rendered.payload)


def test_a_short_error_leaves_its_room_to_the_long_output() -> None:
    rendered = result_message(ResultMessage(JOB_ID, "t.x", False, "o" * 9_000, error="boom"))

    assert [file.name for file in rendered.files] == ["1b4e28ba-output.txt"]
    description = embed_of(rendered.payload)["description"]
    assert description.startswith("**Error**\nboom\n\nooo") and len(description) > 4_000
    assert_within_limits(rendered.payload)


def test_long_structured_output_is_attached_as_json_with_a_closed_preview() -> None:
    structured = {f"key{i:04}": "v" * 50 for i in range(200)}
    rendered = result_message(ResultMessage(JOB_ID, "t.x", True, "", structured=structured))
    description = embed_of(rendered.payload)["description"]

    assert [file.name for file in rendered.files] == ["1b4e28ba-output.json"]
    assert json.loads(rendered.files[0].content) == structured
    assert description.startswith("```json\n{\n") and "\n```\n… the full output" in description
    assert_within_limits(rendered.payload)


def test_the_files_go_in_multipart_parts_after_the_payload() -> None:
    rendered = result_message(ResultMessage(JOB_ID, "t.x", True, "é" * 5_000))

    assert rendered.form_parts() == [
        FormPart("payload_json", json.dumps(rendered.payload), "application/json"),
        FormPart("files[0]", ("é" * 5_000).encode(), "text/plain; charset=utf-8", "1b4e28ba-output.txt"),
    ]


# --- approvals ------------------------------------------------------------------------------------------------


def test_an_approval_prompt_shows_the_arguments_and_two_buttons() -> None:
    assert approval_message(PROMPT) == {
        "embeds": [
            {
                "title": "Approval needed: shell.run",
                "color": 0xFEE75C,
                "description": "Requested by <@81234567890>\n```\ncommand='rm -rf build' dry_run=false\n```",
                "footer": {"text": "job 1b4e28ba"},
                "fields": [{"name": "Who may approve", "value": "ops", "inline": True}],
            }
        ],
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 3, "label": "Approve", "custom_id": f"swarm:approve:{JOB_ID}"},
                    {"type": 2, "style": 4, "label": "Deny", "custom_id": f"swarm:deny:{JOB_ID}"},
                ],
            }
        ],
        "allowed_mentions": NO_MENTIONS,
    }


def test_an_approval_without_arguments_or_hint() -> None:
    embed = embed_of(approval_message(ApprovalPrompt(JOB_ID, "t.x", {}, "alice")))

    assert embed["description"] == "Requested by alice\n```\nnone\n```"
    assert "fields" not in embed


def test_long_arguments_are_shortened_and_say_so() -> None:
    prompt = ApprovalPrompt(JOB_ID, "t.x", {"text": "a" * 10_000}, "alice")
    description = embed_of(approval_message(prompt))["description"]

    assert len(description) <= 4_096
    assert description.endswith("\n```\n(arguments shortened here: 10,005 characters in all)")


@pytest.mark.parametrize("decision", list(ApprovalDecision))
def test_custom_ids_round_trip(decision: ApprovalDecision) -> None:
    assert parse_approval_custom_id(approval_custom_id(decision, JOB_ID)) == (decision, JOB_ID)


@pytest.mark.parametrize("custom_id", ["", "swarm", "swarm:approve:", "swarm:maybe:1b4e", "other:approve:1b4e", "x"])
def test_other_custom_ids_are_not_ours(custom_id: str) -> None:
    assert parse_approval_custom_id(custom_id) is None


def test_a_job_id_too_long_for_a_custom_id_is_refused() -> None:
    with pytest.raises(ValueError, match="1 to 100 characters"):
        approval_message(ApprovalPrompt("j" * 90, "t.x", {}, "alice"))


@pytest.mark.parametrize(
    ("decision", "content", "color"),
    [
        (ApprovalDecision.APPROVE, "Approved by <@81234567890>", 0x57F287),
        (ApprovalDecision.DENY, "Denied by <@81234567890>", 0xED4245),
    ],
)
def test_a_decided_prompt_keeps_the_embed_drops_the_buttons_and_names_the_approver(
    decision: ApprovalDecision, content: str, color: int
) -> None:
    decided = decided_message(PROMPT, decision, "81234567890")

    assert decided == {
        "content": content,
        "embeds": [{**embed_of(approval_message(PROMPT)), "color": color}],
        "components": [],
        "allowed_mentions": NO_MENTIONS,
    }


@pytest.mark.parametrize("user_id", ["", "@everyone", "<@1>", "12a", "1" * 21])
def test_a_decider_must_be_a_user_id(user_id: str) -> None:
    with pytest.raises(ValueError, match="snowflake"):
        decided_message(PROMPT, ApprovalDecision.APPROVE, user_id)


# --- replies --------------------------------------------------------------------------------------------------


def test_a_reply_is_content() -> None:
    assert reply_message(ChatReply("Usage: /swarm COMMAND")) == {
        "content": "Usage: /swarm COMMAND",
        "allowed_mentions": NO_MENTIONS,
    }


def test_an_ephemeral_reply_sets_flag_64() -> None:
    assert reply_message(ChatReply("only you", ephemeral=True)) == {
        "content": "only you",
        "allowed_mentions": NO_MENTIONS,
        "flags": 64,
    }


def test_a_reply_over_2000_characters_goes_into_embeds() -> None:
    text = "\n".join(f"demo.tool{i:03} arguments" for i in range(200))  # 4,999 characters
    payload = reply_message(ChatReply(text, ephemeral=True))

    assert "content" not in payload and payload["flags"] == 64
    assert "".join(embed["description"] for embed in payload["embeds"]) == text
    assert_within_limits(payload)


def test_a_reply_over_6000_characters_says_how_much_is_not_shown() -> None:
    payload = reply_message(ChatReply("r" * 10_000))

    descriptions = [embed["description"] for embed in payload["embeds"]]
    assert descriptions[0] == "r" * 4_096
    assert descriptions[1] == "r" * 1_804 + "\n… 4,100 more characters not shown (too long for one Discord message)"
    assert_within_limits(payload)


# --- every message --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        status_message(StatusMessage(JOB_ID, "t.x", JobState.RUNNING)),
        result_message(ResultMessage(JOB_ID, "t.x", True, "@everyone")).payload,
        result_message(ResultMessage(JOB_ID, "t.x", True, "x" * 50_000)).payload,
        approval_message(PROMPT),
        decided_message(PROMPT, ApprovalDecision.DENY, "1"),
        reply_message(ChatReply("@here")),
        reply_message(ChatReply("y" * 3_000)),
    ],
)
def test_no_message_can_ping_anyone_and_all_are_within_limits(payload: dict[str, Any]) -> None:
    assert payload["allowed_mentions"] == NO_MENTIONS
    assert_within_limits(payload)
    json.dumps(payload)  # plain JSON types only


@pytest.mark.parametrize(
    ("state", "title", "colour"),
    [(JobState.CANCELLED, "demo.sleep cancelled after 2.4 s", 0x95A5A6),
     (JobState.TIMED_OUT, "demo.sleep timed out after 2.4 s", 0xED4245)],
)  # fmt: skip
def test_a_cancelled_or_timed_out_result_is_titled_and_coloured_by_its_state(
    state: JobState, title: str, colour: int
) -> None:
    result = ResultMessage(JOB_ID, "demo.sleep", False, "", duration_s=2.4, error="cancelled by discord:G:U",
                           state=state)  # fmt: skip

    embed = result_message(result).payload["embeds"][0]

    assert (embed["title"], embed["color"]) == (title, colour)
