"""Discord rendering of the neutral chat model: JSON-able message bodies for the REST API and interaction responses.

Pure functions. Every body carries ``allowed_mentions: {"parse": []}`` so that text from a tool cannot ping
``@everyone`` or a role. Text over Discord's limits is never cut silently: a result's full text goes out as a
file attachment, and anything else that has to be shortened says so in the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Final

from bot.commands.values import format_arguments
from bot.console.render import format_size
from bot.discord.limits import (
    FENCE,
    MAX_CONTENT_CHARS,
    MAX_EMBED_DESCRIPTION_CHARS,
    MAX_EMBED_FIELD_VALUE_CHARS,
    MAX_EMBED_TITLE_CHARS,
    MAX_EMBEDS_TOTAL_CHARS,
    Section,
    TextFile,
    clip,
    defuse_fences,
    describe,
    embed_chars,
    text_embeds,
)
from bot.ports import ApprovalPrompt, Attachment, ChatReply, JobState, ResultMessage, StatusMessage
from bot.progress import format_duration, outcome_phrase, render_bar

__all__ = [
    "CUSTOM_ID_PREFIX",
    "EPHEMERAL_FLAG",
    "JOB_ID_CHARS",
    "MAX_CUSTOM_ID_CHARS",
    "ApprovalDecision",
    "ButtonStyle",
    "Colour",
    "ComponentType",
    "FormPart",
    "RenderedResult",
    "TextFile",
    "approval_custom_id",
    "approval_message",
    "decided_message",
    "parse_approval_custom_id",
    "reply_message",
    "result_message",
    "status_message",
]

MAX_CUSTOM_ID_CHARS: Final = 100
EPHEMERAL_FLAG: Final = 1 << 6
JOB_ID_CHARS: Final = 8
CUSTOM_ID_PREFIX: Final = "swarm"

_MAX_NAME_CHARS: Final = 200
_SNOWFLAKE: Final = re.compile(r"[0-9]{1,20}")


class ComponentType(IntEnum):
    """The message component types we send."""

    ACTION_ROW = 1
    BUTTON = 2


class ButtonStyle(IntEnum):
    """Discord button styles (success is green, danger red)."""

    SUCCESS = 3
    DANGER = 4


class Colour(IntEnum):
    """Embed colours, Discord's own palette."""

    GREY = 0x95A5A6
    BLURPLE = 0x5865F2
    YELLOW = 0xFEE75C
    GREEN = 0x57F287
    RED = 0xED4245


class ApprovalDecision(StrEnum):
    """What an approver clicked; the value is also the action word of the button's ``custom_id``."""

    APPROVE = "approve"
    DENY = "deny"


@dataclass(frozen=True)
class FormPart:
    """One part of a multipart/form-data body: a text field, or a file when ``filename`` is set."""

    name: str
    value: str | bytes
    content_type: str
    filename: str | None = None


@dataclass(frozen=True)
class RenderedResult:
    """A message body plus the files to upload with it: file ``i`` goes in the multipart part ``files[i]``."""

    payload: dict[str, Any]
    files: tuple[TextFile, ...] = field(default=())

    def form_parts(self) -> list[FormPart]:
        """The multipart body Discord expects when there are files: ``payload_json``, then ``files[i]``."""
        payload = FormPart("payload_json", json.dumps(self.payload), "application/json")
        files = [FormPart(f"files[{i}]", file.data, file.content_type, file.name) for i, file in enumerate(self.files)]
        return [payload, *files]


_STATE_LOOK: Final[Mapping[JobState, tuple[str, Colour]]] = {
    JobState.QUEUED: ("queued", Colour.GREY),
    JobState.AWAITING_APPROVAL: ("waiting for approval", Colour.YELLOW),
    JobState.RUNNING: ("running", Colour.BLURPLE),
    JobState.SUCCEEDED: ("succeeded", Colour.GREEN),
    JobState.FAILED: ("failed", Colour.RED),
    JobState.CANCELLED: ("cancelled", Colour.GREY),
    JobState.TIMED_OUT: ("timed out", Colour.RED),
}


def status_message(status: StatusMessage) -> dict[str, Any]:
    """The job's status message (posted once, then edited): state, progress bar, step, elapsed time, worker."""
    label, colour = _STATE_LOOK[status.state]
    embed: dict[str, Any] = {
        "title": clip(f"{status.tool}: {label}", MAX_EMBED_TITLE_CHARS),
        "color": int(colour),
        "footer": {"text": _job_label(status.job_id)},
    }
    if status.progress is not None:
        bar = f"`{render_bar(status.progress.progress, status.progress.total)}`"
        message = (status.progress.message or "").strip()
        embed["description"] = clip(f"{bar} {message}" if message else bar, MAX_EMBED_DESCRIPTION_CHARS)
    fields = [("Step", status.step), ("Elapsed", format_duration(status.elapsed_s)), ("Worker", status.worker)]
    embed["fields"] = [_field(name, value) for name, value in fields if value and value.strip()]
    return _message(embeds=[embed])


def result_message(result: ResultMessage) -> RenderedResult:
    """A finished job's result as an embed; text beyond Discord's limits goes out in full as attached files."""
    embed: dict[str, Any] = {
        "title": clip(f"{result.tool} {outcome_phrase(result)}", MAX_EMBED_TITLE_CHARS),
        "color": int(_STATE_LOOK[result.final_state][1]),
        "footer": {"text": _job_label(result.job_id)},
    }
    if result.attachments:
        embed["fields"] = [_field("Attachments", _attachment_lines(result.attachments))]
    budget = min(MAX_EMBED_DESCRIPTION_CHARS, MAX_EMBEDS_TOTAL_CHARS - embed_chars(embed))
    description, files = describe(_sections(result), budget)
    if description:
        embed["description"] = description
    payload = _message(embeds=[embed])
    if files:
        payload["attachments"] = [{"id": str(index), "filename": file.name} for index, file in enumerate(files)]
    return RenderedResult(payload, tuple(files))


def approval_message(prompt: ApprovalPrompt) -> dict[str, Any]:
    """The approval prompt: who asks to run what with which arguments, and Approve / Deny buttons."""
    buttons = [
        _button("Approve", ButtonStyle.SUCCESS, approval_custom_id(ApprovalDecision.APPROVE, prompt.job_id)),
        _button("Deny", ButtonStyle.DANGER, approval_custom_id(ApprovalDecision.DENY, prompt.job_id)),
    ]
    row = {"type": int(ComponentType.ACTION_ROW), "components": buttons}
    return _message(embeds=[_approval_embed(prompt, Colour.YELLOW)], components=[row])


def decided_message(prompt: ApprovalPrompt, decision: ApprovalDecision, by_user_id: str) -> dict[str, Any]:
    """The approval prompt after the click: same embed, buttons removed, ``Approved by <@id>`` (no ping)."""
    if not _SNOWFLAKE.fullmatch(by_user_id):
        raise ValueError(f"by_user_id must be a Discord user id (a snowflake), not {by_user_id[:40]!r}")
    approved = ApprovalDecision(decision) is ApprovalDecision.APPROVE
    colour = Colour.GREEN if approved else Colour.RED
    content = f"{'Approved' if approved else 'Denied'} by <@{by_user_id}>"
    return _message(content=content, embeds=[_approval_embed(prompt, colour)], components=[])


def reply_message(reply: ChatReply) -> dict[str, Any]:
    """A command's answer: content when it fits, else embeds; ``ephemeral`` sets flag 64 (only the asker sees it)."""
    if len(reply.text) <= MAX_CONTENT_CHARS:
        payload = _message(content=reply.text)
    else:
        payload = _message(embeds=text_embeds(reply.text))
    if reply.ephemeral:
        payload["flags"] = EPHEMERAL_FLAG
    return payload


def approval_custom_id(decision: ApprovalDecision, job_id: str) -> str:
    """``swarm:approve:<job_id>`` / ``swarm:deny:<job_id>``; raise ValueError when longer than Discord allows."""
    custom_id = f"{CUSTOM_ID_PREFIX}:{ApprovalDecision(decision)}:{job_id}"
    if not job_id or len(custom_id) > MAX_CUSTOM_ID_CHARS:
        raise ValueError(f"a button custom_id must be 1 to {MAX_CUSTOM_ID_CHARS} characters; job id {job_id[:40]!r}")
    return custom_id


def parse_approval_custom_id(custom_id: str) -> tuple[ApprovalDecision, str] | None:
    """The decision and job id of one of our approval buttons, or None when ``custom_id`` is not one."""
    prefix, _, rest = custom_id.partition(":")
    action, _, job_id = rest.partition(":")
    if prefix != CUSTOM_ID_PREFIX or not job_id:
        return None
    try:
        return ApprovalDecision(action), job_id
    except ValueError:
        return None


def _sections(result: ResultMessage) -> list[Section]:
    job = result.job_id[:JOB_ID_CHARS]
    sections = []
    if not result.ok and result.error:
        sections.append(Section(result.error, f"{job}-error.txt", "error", heading="**Error**\n"))
    if result.text:
        sections.append(Section(result.text, f"{job}-output.txt", "output"))
    elif result.structured is not None:
        text = json.dumps(result.structured, indent=2, sort_keys=True, ensure_ascii=False)
        sections.append(Section(text, f"{job}-output.json", "output", language="json"))
    return sections


def _approval_embed(prompt: ApprovalPrompt, colour: Colour) -> dict[str, Any]:
    head = f"Requested by {clip(prompt.requested_by, _MAX_NAME_CHARS)}\n"
    arguments = defuse_fences(format_arguments(prompt.arguments) or "none")
    block = f"{FENCE}\n{arguments}\n{FENCE}"
    if len(head) + len(block) > MAX_EMBED_DESCRIPTION_CHARS:
        note = f"\n(arguments shortened here: {len(arguments):,} characters in all)"
        room = MAX_EMBED_DESCRIPTION_CHARS - len(head) - len(note) - len(f"{FENCE}\n\n{FENCE}")
        block = f"{FENCE}\n{arguments[:room]}\n{FENCE}{note}"
    embed: dict[str, Any] = {
        "title": clip(f"Approval needed: {prompt.tool}", MAX_EMBED_TITLE_CHARS),
        "color": int(colour),
        "description": head + block,
        "footer": {"text": _job_label(prompt.job_id)},
    }
    if prompt.approvers_hint and prompt.approvers_hint.strip():
        embed["fields"] = [_field("Who may approve", prompt.approvers_hint)]
    return embed


def _attachment_lines(attachments: Sequence[Attachment]) -> str:
    """One line per attachment; when they do not all fit in a field, the last line says how many are left out."""
    lines: list[str] = []
    for count, attachment in enumerate(attachments):
        name = attachment.name.replace("]", "")
        where = f"[{name}]({attachment.url_or_path})" if "://" in attachment.url_or_path else f"`{name}`"
        line = f"{where} ({attachment.kind}, {format_size(attachment.size_bytes)})"
        left_after = len(attachments) - count - 1
        tail = [f"… and {left_after} more"] if left_after else []
        if len("\n".join([*lines, line, *tail])) > MAX_EMBED_FIELD_VALUE_CHARS:
            return "\n".join([*lines, f"… and {left_after + 1} more"])  # fitted with the previous line
        lines.append(line)
    return "\n".join(lines)


def _message(**parts: Any) -> dict[str, Any]:
    return {**parts, "allowed_mentions": {"parse": []}}


def _button(label: str, style: ButtonStyle, custom_id: str) -> dict[str, Any]:
    return {"type": int(ComponentType.BUTTON), "style": int(style), "label": label, "custom_id": custom_id}


def _field(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": clip(value, MAX_EMBED_FIELD_VALUE_CHARS), "inline": name != "Attachments"}


def _job_label(job_id: str) -> str:
    return f"job {job_id[:JOB_ID_CHARS]}"
