"""The console's rendering of the neutral chat model: plain terminal lines, ANSI colour only on request."""

from __future__ import annotations

import json
import re
from typing import Final

from bot.commands.values import format_arguments
from bot.ports import ApprovalPrompt, Attachment, ChatReply, JobState, ResultMessage, StatusMessage
from bot.progress import format_duration, outcome_phrase, render_bar

ConsoleMessage = StatusMessage | ResultMessage | Attachment | ApprovalPrompt | ChatReply

INDENT: Final = "  "
JOB_ID_CHARS: Final = 8

_RESET: Final = "\x1b[0m"
_STYLES: Final = {
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "red": "\x1b[31m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "cyan": "\x1b[36m",
}
_STATE_STYLES: Final = {
    JobState.QUEUED: "cyan",
    JobState.AWAITING_APPROVAL: "yellow",
    JobState.RUNNING: "cyan",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "red",
    JobState.CANCELLED: "yellow",
    JobState.TIMED_OUT: "red",
}
_SIZE_UNITS: Final = ("kB", "MB", "GB", "TB")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def render_message(message: ConsoleMessage, *, color: bool = False) -> list[str]:
    """Render any message of the neutral model as terminal lines."""
    match message:
        case StatusMessage():
            return render_status(message, color=color)
        case ResultMessage():
            return render_result(message, color=color)
        case Attachment():
            return render_attachment(message, color=color)
        case ApprovalPrompt():
            return render_approval(message, color=color)
        case ChatReply():
            return render_reply(message, color=color)


def render_status(status: StatusMessage, *, color: bool = False) -> list[str]:
    """``job 1b4e28ba demo.progress: running (12.3 s, worker gpu-1)``, then progress bar and step."""
    label, style = status.state.label, _STATE_STYLES[status.state]
    details = format_duration(status.elapsed_s) + (f", worker {_safe(status.worker)}" if status.worker else "")
    lines = [f"{_job(status.job_id, status.tool, color)}: {_paint(label, style, color)} ({details})"]
    if status.progress is not None:
        bar = _paint(render_bar(status.progress.progress, status.progress.total), "cyan", color)
        message = status.progress.message
        lines.append(INDENT + bar + (f" {_safe(message)}" if message else ""))
    if status.step:
        lines.append(INDENT + _paint(f"step: {_safe(status.step)}", "dim", color))
    return lines


def render_result(result: ResultMessage, *, color: bool = False) -> list[str]:
    """The outcome line with the duration, the result text (or structured JSON) and the attachments."""
    head, state = _job(result.job_id, result.tool, color), result.final_state
    label = state.label
    outcome = _paint(label, _STATE_STYLES[state], color) + outcome_phrase(result).removeprefix(label)
    if result.ok:
        lines = [f"{head}: {outcome}"]
    else:
        error = (result.error or "").splitlines() or [""]
        first = f": {_safe(error[0])}" if error[0] and error[0] != label else ""
        lines = [f"{head}: {outcome}{first}"]
        lines += [INDENT + _safe(line) for line in error[1:]]
    if result.text:
        lines += [INDENT + _safe(line) for line in result.text.splitlines()]
    elif result.structured is not None:
        text = json.dumps(result.structured, indent=2, sort_keys=True, ensure_ascii=False)
        lines += [INDENT + _paint(_safe(line), "dim", color) for line in text.splitlines()]
    for attachment in result.attachments:
        lines += [INDENT + line for line in render_attachment(attachment, color=color)]
    return lines


def render_attachment(attachment: Attachment, *, color: bool = False) -> list[str]:
    """``saved image to PATH (12.3 kB)``, or ``image at URL (…)`` when it was not saved locally."""
    where = _paint(_safe(attachment.url_or_path), "bold", color)
    remote = "://" in attachment.url_or_path
    line = f"{attachment.kind} at {where}" if remote else f"saved {attachment.kind} to {where}"
    line += f" ({format_size(attachment.size_bytes)})"
    if attachment.alt_text and attachment.alt_text != attachment.name:  # the name is in the path already
        line += f": {_safe(attachment.alt_text)}"
    return [line]


def render_approval(prompt: ApprovalPrompt, *, color: bool = False) -> list[str]:
    """Who asks to run what, with the exact arguments, and who may approve."""
    label = _paint("waiting for approval", "yellow", color)
    lines = [f"{_job(prompt.job_id, prompt.tool, color)}: {label} (requested by {_safe(prompt.requested_by)})"]
    lines.append(INDENT + "arguments: " + (_safe(format_arguments(prompt.arguments)) or "none"))
    if prompt.approvers_hint:
        lines.append(INDENT + f"approvers: {_safe(prompt.approvers_hint)}")
    return lines


def render_reply(reply: ChatReply, *, color: bool = False) -> list[str]:
    """The reply's text line by line; ephemeral replies are dimmed (the console has one reader)."""
    lines = [_safe(line) for line in reply.text.splitlines()] or [""]
    return [_paint(line, "dim", color) for line in lines] if reply.ephemeral else lines


def format_size(size_bytes: int) -> str:
    """``512 B``, ``12.3 kB``, ``4.5 MB`` (powers of 1,000)."""
    value, unit = float(max(size_bytes, 0)), "B"
    for larger in _SIZE_UNITS:
        if round(value, 1) < 1000:
            break
        value, unit = value / 1000, larger
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def _job(job_id: str, tool: str, color: bool) -> str:
    return f"job {_safe(job_id[:JOB_ID_CHARS])} {_paint(_safe(tool), 'bold', color)}"


def _safe(text: str) -> str:
    """Show control characters (e.g. ESC from a tool's output) as ``\\x1b`` so they cannot drive the terminal."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_STYLES[style]}{text}{_RESET}" if color and text else text
