"""Slack Block Kit rendering of the neutral chat model: pure functions from messages to block dicts.

Everything a user or a tool wrote is escaped (:mod:`bot.slack.mrkdwn`); no section text is blank or longer than
Slack's 3,000 characters; a message stays within 50 blocks and about 12,000 characters (Slack answers
``msg_blocks_too_long`` a little above 13,000), and a result longer than that goes up as a file, never cut silently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from bot.commands import format_arguments
from bot.console.render import JOB_ID_CHARS, format_size
from bot.ports import ApprovalPrompt, Attachment, ChatReply, JobState, ResultMessage, StatusMessage
from bot.progress import format_duration, outcome_phrase, render_bar
from bot.slack.mrkdwn import clip, escape, is_user_id, mention, raw_length, split_escaped

BlockDict = dict[str, Any]
SlackMessage = StatusMessage | ResultMessage | ApprovalPrompt | ChatReply
ApprovalDecision = Literal["approved", "denied"]

MAX_BLOCKS: Final = 50
MAX_SECTION_CHARS: Final = 3000
MAX_INLINE_CHARS: Final = 12_000
PREVIEW_CHARS: Final = 1000
MAX_NAME_CHARS: Final = 200  # one tool name, step, worker, progress message or user name
MAX_FALLBACK_CHARS: Final = 300
MAX_ARGUMENT_SECTIONS: Final = 4
MAX_LISTED_ATTACHMENTS: Final = 5
APPROVE_ACTION_ID: Final = "swarm_approve"
DENY_ACTION_ID: Final = "swarm_deny"

_CODE_CHARS: Final = MAX_SECTION_CHARS - len("```\n\n```")
_UNSAFE_FILE_CHARS: Final = re.compile(r"[^A-Za-z0-9._-]+")
_STATE_EMOJI: Final = {
    JobState.QUEUED: ":hourglass_flowing_sand:",
    JobState.AWAITING_APPROVAL: ":raised_hand:",
    JobState.RUNNING: ":arrows_counterclockwise:",
    JobState.SUCCEEDED: ":white_check_mark:",
    JobState.FAILED: ":x:",
    JobState.CANCELLED: ":no_entry_sign:",
    JobState.TIMED_OUT: ":alarm_clock:",
}
_DECISIONS: Final = {"approved": (":white_check_mark:", "Approved"), "denied": (":no_entry_sign:", "Denied")}


@dataclass(frozen=True)
class TextFile:
    """Text too long for a message, to be uploaded into the same thread (``files_upload_v2``)."""

    name: str
    content: str


@dataclass(frozen=True)
class RenderedResult:
    """A result message: the fallback ``text``, the ``blocks``, and the ``files`` to upload with it."""

    text: str
    blocks: list[BlockDict]
    files: tuple[TextFile, ...] = ()


@dataclass
class _Part:
    blocks: list[BlockDict] = field(default_factory=list)
    files: list[TextFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chars: int = 0


def status_blocks(status: StatusMessage) -> list[BlockDict]:
    """Tool and state, progress bar and step in a section; job id, elapsed time and worker as context."""
    emoji, label = _STATE_EMOJI[status.state], status.state.label
    lines = [f"{emoji} {_tool(status.tool)}: {label}"]
    if status.progress is not None:
        bar = f"`{render_bar(status.progress.progress, status.progress.total)}`"
        message = status.progress.message
        lines.append(bar + (f" {_short(message)}" if message else ""))
    if status.step:
        lines.append(f"step: {_short(status.step)}")
    details = [_job(status.job_id), format_duration(status.elapsed_s)]
    if status.worker:
        details.append(f"worker {_short(status.worker)}")
    return [_section("\n".join(lines)), _context(" · ".join(details))]


def result_blocks(result: ResultMessage) -> RenderedResult:
    """Outcome and duration, the error of a failed job, the output; what is too long for a message becomes a file."""
    stem = _file_stem(result)
    error = _error_part(result, stem)
    output = _output_part(result, stem, MAX_INLINE_CHARS - error.chars, MAX_BLOCKS - 2 - len(error.blocks))
    notes = [_job(result.job_id), *error.notes, *output.notes]
    if result.attachments:
        notes.append(_attachments_note(result.attachments))
    blocks = [_section(_result_head(result)), *error.blocks, *output.blocks, _context(*notes)]
    return RenderedResult(fallback_text(result), blocks, (*error.files, *output.files))


def approval_blocks(prompt: ApprovalPrompt) -> list[BlockDict]:
    """What will run and who asked, with Approve and Deny buttons whose value is the job id."""
    buttons = [
        _button("Approve", APPROVE_ACTION_ID, prompt.job_id, "primary"),
        _button("Deny", DENY_ACTION_ID, prompt.job_id, "danger"),
    ]
    return [*_approval_body(prompt, ":raised_hand:", "waiting for approval"), {"type": "actions", "elements": buttons}]


def decided_blocks(prompt: ApprovalPrompt, decision: ApprovalDecision, by_user_id: str) -> list[BlockDict]:
    """The approval prompt once decided: the same content, no buttons, and who approved or denied it."""
    emoji, verb = _decision(decision)
    return _approval_body(prompt, emoji, f"{verb} by {_who(by_user_id)}")


def reply_blocks(reply: ChatReply) -> list[BlockDict]:
    """A command's answer as sections; text beyond what one message holds is left out with a note saying so."""
    pieces = split_escaped(reply.text, MAX_SECTION_CHARS)
    if not pieces:
        return [_section("_(no text)_")]
    shown = _fitting(pieces, MAX_INLINE_CHARS, MAX_BLOCKS - 1)
    blocks = [_section(piece) for piece in shown]
    hidden = raw_length(pieces[len(shown) :])
    if hidden:
        blocks.append(_context(f":warning: {hidden:,} more characters are not shown"))
    return blocks


def fallback_text(message: SlackMessage) -> str:
    """The ``text`` sent with the blocks: what notifications and screen readers show."""
    match message:
        case StatusMessage():
            label = message.state.label
            fraction = message.progress.fraction if message.progress is not None else None
            percent = f" ({math.floor(fraction * 100)}%)" if fraction is not None else ""
            text = f"{_short(message.tool)}: {label}{percent}"
        case ResultMessage():
            text = _result_head(message, plain=True)
            first_error = (message.error or "").strip().partition("\n")[0]
            if not message.ok and first_error:
                text += f": {_short(first_error)}"
        case ApprovalPrompt():
            text = f"{_short(message.tool)} is waiting for approval (requested by {_who(message.requested_by)})"
        case ChatReply():
            text = escape(clip(message.text.strip(), MAX_FALLBACK_CHARS)) or "(no text)"
    return text


def decided_text(prompt: ApprovalPrompt, decision: ApprovalDecision, by_user_id: str) -> str:
    """The fallback ``text`` for :func:`decided_blocks`."""
    return f"{_short(prompt.tool)}: {_decision(decision)[1].lower()} by {_who(by_user_id)}"


def _error_part(result: ResultMessage, stem: str) -> _Part:
    error = result.error or ""
    if result.ok or not error.strip():
        return _Part()
    pieces = split_escaped(error, _CODE_CHARS)
    if len(pieces) == 1:
        return _Part([_code_section(pieces[0])], chars=len(pieces[0]))
    return _as_file(error, f"{stem}-error.txt", "the error", code=True)


def _output_part(result: ResultMessage, stem: str, max_chars: int, max_blocks: int) -> _Part:
    text, name, code = result.text, f"{stem}.txt", False
    if not text.strip() and result.structured is not None:
        text = json.dumps(result.structured, indent=2, sort_keys=True, ensure_ascii=False)
        name, code = f"{stem}.json", True
    if not text.strip():
        return _Part()
    pieces = split_escaped(text, _CODE_CHARS if code else MAX_SECTION_CHARS)
    if sum(map(len, pieces)) <= max_chars and len(pieces) <= max_blocks:
        return _Part([_code_section(p) if code else _section(p) for p in pieces], chars=sum(map(len, pieces)))
    return _as_file(text, name, "the output", code=code)


def _as_file(text: str, name: str, what: str, *, code: bool) -> _Part:
    """A preview of the first lines in the message, the whole text as a file, and a note that says so."""
    preview = split_escaped(text, PREVIEW_CHARS)[0] + "\n…"
    note = f":page_facing_up: {what.capitalize()} is too long for a message ({len(text):,} characters)"
    note += f"; it is attached as `{escape(name)}`"
    block = _code_section(preview) if code else _section(preview)
    return _Part([block], [TextFile(name, text)], [note], len(preview))


def _approval_body(prompt: ApprovalPrompt, emoji: str, status: str) -> list[BlockDict]:
    head = f"{emoji} {_tool(prompt.tool)}: {status}\nrequested by {_who(prompt.requested_by)}"
    arguments = format_arguments(prompt.arguments)
    pieces = split_escaped(arguments, _CODE_CHARS)
    shown = pieces[:MAX_ARGUMENT_SECTIONS]
    blocks = [_section(head), *([_code_section(piece) for piece in shown] or [_section("_no arguments_")])]
    notes = [_job(prompt.job_id)]
    if len(shown) < len(pieces):
        shown_chars, all_chars = raw_length(shown), raw_length(pieces)
        notes.append(f":warning: only the first {shown_chars:,} of {all_chars:,} characters of the arguments are shown")
    if prompt.approvers_hint:
        notes.append(f"approvers: {_short(prompt.approvers_hint)}")
    return [*blocks, _context(*notes)]


def _result_head(result: ResultMessage, *, plain: bool = False) -> str:
    outcome = outcome_phrase(result)
    if plain:
        return f"{_short(result.tool)} {outcome}"
    emoji = _STATE_EMOJI[result.final_state]
    return f"{emoji} {_tool(result.tool)}: {outcome}"


def _attachments_note(attachments: Sequence[Attachment]) -> str:
    listed = [f"{_short(a.name)} ({format_size(a.size_bytes)})" for a in attachments[:MAX_LISTED_ATTACHMENTS]]
    more = len(attachments) - len(listed)
    return ":paperclip: " + ", ".join(listed) + (f" and {more} more" if more else "")


def _fitting(pieces: list[str], max_chars: int, max_blocks: int) -> list[str]:
    """The leading pieces that fit together within ``max_chars`` and ``max_blocks``."""
    total = 0
    for count, piece in enumerate(pieces[:max_blocks]):
        total += len(piece)
        if total > max_chars:
            return pieces[:count]
    return pieces[:max_blocks]


def _decision(decision: str) -> tuple[str, str]:
    if decision not in _DECISIONS:
        raise ValueError(f"an approval decision is 'approved' or 'denied', not {decision!r}")
    return _DECISIONS[decision]


def _button(label: str, action_id: str, value: str, style: str) -> BlockDict:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "action_id": action_id, "text": text, "value": value, "style": style}


def _section(text: str) -> BlockDict:
    if not text.strip() or len(text) > MAX_SECTION_CHARS:  # a bug here would make Slack refuse the whole message
        raise ValueError(f"a section text must be 1 to {MAX_SECTION_CHARS} characters, not {len(text)}")
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _code_section(escaped: str) -> BlockDict:
    return _section(f"```\n{escaped}\n```")


def _context(*texts: str) -> BlockDict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text} for text in texts]}


def _short(text: str) -> str:
    """A one-line, clipped, escaped rendering of a short tool- or user-provided text."""
    return escape(clip(" ".join(text.split()), MAX_NAME_CHARS))


def _tool(tool: str) -> str:
    return f"*{_short(tool)}*"


def _who(user: str) -> str:
    return mention(user) if is_user_id(user) else _short(user)


def _job(job_id: str) -> str:
    return f"job `{_short(job_id[:JOB_ID_CHARS])}`"


def _file_stem(result: ResultMessage) -> str:
    stem = _UNSAFE_FILE_CHARS.sub("_", f"{result.tool}-{result.job_id[:JOB_ID_CHARS]}").strip("._-")
    return stem[:MAX_NAME_CHARS] or "result"
