"""Folding a job's event log into what a chat thread shows (pure; every adapter uses it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.ports import (
    ApprovalPrompt,
    Attachment,
    AttachmentKind,
    JobState,
    Progress,
    ResultMessage,
    StatusMessage,
)  # fmt: skip

_STATE_OF_KIND = {
    "queued": JobState.QUEUED,
    "approval_requested": JobState.AWAITING_APPROVAL,
    "started": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "timed_out": JobState.TIMED_OUT,
}


@dataclass(frozen=True)
class Timeline:
    """What is known of a job from the events seen so far."""

    job_id: str
    tool: str
    state: JobState = JobState.QUEUED
    progress: Progress | None = None
    step: str | None = None
    worker: str | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None
    error: str | None = None
    last_seq: int = 0
    artifacts: tuple[Mapping[str, Any], ...] = field(default=())
    approval: Mapping[str, Any] | None = None  # the approval_requested event's data
    decision: Mapping[str, Any] | None = None  # the approval_decided event's data

    @property
    def finished(self) -> bool:
        return self.state.finished

    def elapsed_s(self, now: datetime) -> float:
        if self.first_at is None:
            return 0.0
        end = self.last_at if self.finished and self.last_at is not None else now
        return max(0.0, (end - self.first_at).total_seconds())


def _progress(data: Mapping[str, Any]) -> Progress | None:
    try:
        total = data.get("total")
        return Progress(float(data["progress"]), float(total) if total is not None else None, data.get("message"))
    except (KeyError, TypeError, ValueError):
        return None


def apply_event(timeline: Timeline, event: Mapping[str, Any]) -> Timeline:
    """The timeline after one event; repeated or older events (by ``seq``) change nothing."""
    seq = int(event.get("seq", 0))
    if seq <= timeline.last_seq:
        return timeline
    kind, data = str(event.get("kind")), event.get("data") or {}
    at = datetime.fromisoformat(str(event["at"])) if event.get("at") else None
    updated = replace(timeline, last_seq=seq, first_at=timeline.first_at or at, last_at=at or timeline.last_at)
    if kind in _STATE_OF_KIND:
        updated = replace(updated, state=_STATE_OF_KIND[kind])
    if kind in ("queued", "started") and data.get("worker"):
        updated = replace(updated, worker=str(data["worker"]))
    if kind == "progress" and (progress := _progress(data)) is not None:
        # The bar shows its own message; the step keeps the last message only while the bar has none.
        last = (timeline.progress.message if timeline.progress else None) or timeline.step
        updated = replace(updated, progress=progress, step=None if progress.message else last)
    elif kind == "retried":
        updated = replace(updated, state=JobState.QUEUED, progress=None, step=f"retrying: {data.get('reason', '')}")
    elif kind == "approval_requested":
        updated = replace(updated, approval=data)
    elif kind == "approval_decided":
        updated = replace(updated, decision=data)
    elif kind == "artifact":
        updated = replace(updated, artifacts=(*updated.artifacts, data))
    elif kind in ("failed", "cancelled", "timed_out"):
        updated = replace(updated, error=str(data.get("error") or kind))
    return updated


def fold(job_id: str, tool: str, events: Sequence[Mapping[str, Any]]) -> Timeline:
    timeline = Timeline(job_id=job_id, tool=tool)
    for event in sorted(events, key=lambda e: int(e.get("seq", 0))):
        timeline = apply_event(timeline, event)
    return timeline


def status_message(timeline: Timeline, now: datetime) -> StatusMessage:
    return StatusMessage(
        job_id=timeline.job_id, tool=timeline.tool, state=timeline.state, progress=timeline.progress,
        step=timeline.step, elapsed_s=timeline.elapsed_s(now), worker=timeline.worker,
    )  # fmt: skip


def result_message(
    timeline: Timeline, result: Mapping[str, Any] | None, attachments: Sequence[Attachment], now: datetime
) -> ResultMessage:
    """The final message: text outputs joined, attachments as given (saved or uploaded by the adapter)."""
    outputs = (result or {}).get("outputs") or []
    texts = [str(o.get("text", "")) for o in outputs if o.get("type") == "text"]
    links = [f"{o.get('name')}: {o.get('uri')}" for o in outputs if o.get("type") == "resource_link"]
    return ResultMessage(
        job_id=timeline.job_id, tool=timeline.tool, ok=timeline.state is JobState.SUCCEEDED,
        text="\n".join(texts + links), structured=(result or {}).get("structured"), attachments=attachments,
        duration_s=timeline.elapsed_s(now), error=None if timeline.state is JobState.SUCCEEDED else timeline.error,
        state=timeline.state if timeline.state.finished else None,
    )  # fmt: skip


def approval_prompt(timeline: Timeline) -> ApprovalPrompt | None:
    """The prompt for an approver, when the job asked for one."""
    if timeline.approval is None:
        return None
    return ApprovalPrompt(
        job_id=timeline.job_id, tool=timeline.tool, arguments=dict(timeline.approval.get("arguments") or {}),
        requested_by=str(timeline.approval.get("requested_by") or ""),
    )  # fmt: skip


def attachment_from(artifact: Mapping[str, Any], url_or_path: str) -> Attachment:
    mime_type = str(artifact.get("mime_type") or "application/octet-stream")
    return Attachment(
        name=str(artifact.get("name") or "artifact"), mime_type=mime_type,
        size_bytes=int(artifact.get("size_bytes") or 0), url_or_path=url_or_path,
        kind=AttachmentKind.for_mime_type(mime_type), alt_text=str(artifact.get("name") or ""),
    )  # fmt: skip
