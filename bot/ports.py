"""The platform-neutral chat model: where a message goes, what it says, and the adapter that posts it.

Slack, Discord and the console render these types; nothing outside an adapter knows a platform's format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class JobState(StrEnum):
    """The states a job shows in chat (the hub's ``created`` is never shown)."""

    QUEUED = "queued"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        """Whether no further state can follow."""
        return self in _FINISHED

    @property
    def label(self) -> str:
        """How every chat names the state: ``waiting for approval``, ``timed out``, ``running``."""
        return "waiting for approval" if self is JobState.AWAITING_APPROVAL else self.value.replace("_", " ")


_FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})


class AttachmentKind(StrEnum):
    """How a chat shows an attachment."""

    IMAGE = "image"
    AUDIO = "audio"
    FILE = "file"

    @classmethod
    def for_mime_type(cls, mime_type: str) -> AttachmentKind:
        """``image/*`` is an image, ``audio/*`` audio, anything else a file."""
        major = mime_type.partition("/")[0].strip().lower()
        return {"image": cls.IMAGE, "audio": cls.AUDIO}.get(major, cls.FILE)


@dataclass(frozen=True)
class ThreadRef:
    """Where a conversation lives: a channel, and a thread in it when the platform has threads."""

    platform: str
    channel: str
    thread: str | None = None
    team: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """A plain JSON-able dict, e.g. for a job row."""
        return {"platform": self.platform, "channel": self.channel, "thread": self.thread, "team": self.team}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThreadRef:
        """Read what :meth:`to_dict` wrote; raise ValueError on missing, unknown or mistyped fields."""
        unknown = set(data) - {"platform", "channel", "thread", "team"}
        if unknown:
            raise ValueError(f"unknown thread reference fields: {', '.join(sorted(map(str, unknown)))}")
        return cls(
            platform=_required_text(data, "platform"),
            channel=_required_text(data, "channel"),
            thread=_optional_text(data, "thread"),
            team=_optional_text(data, "team"),
        )


@dataclass(frozen=True)
class Progress:
    """How far a job is: ``progress`` out of ``total`` (None when the end is unknown)."""

    progress: float
    total: float | None = None
    message: str | None = None

    @property
    def fraction(self) -> float | None:
        """``progress / total`` clamped to [0, 1], or None when there is no usable total."""
        if self.total is None or not 0 < self.total < math.inf or not math.isfinite(self.progress):
            return None
        return min(max(self.progress / self.total, 0.0), 1.0)


@dataclass(frozen=True)
class Attachment:
    """A file a job produced: ``url_or_path`` is where the adapter reads it or where it was saved."""

    name: str
    mime_type: str
    size_bytes: int
    url_or_path: str
    kind: AttachmentKind
    alt_text: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AttachmentKind(self.kind))  # "image" read from JSON is fine too


@dataclass(frozen=True)
class StatusMessage:
    """The one message per job that is edited as the job moves."""

    job_id: str
    tool: str
    state: JobState
    progress: Progress | None = None
    step: str | None = None
    elapsed_s: float = 0.0
    worker: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", JobState(self.state))  # "running" read from JSON is fine too


@dataclass(frozen=True)
class ResultMessage:
    """What a finished job returned; ``error`` says why when ``ok`` is false, and ``state`` how it ended
    when that was not a plain failure (cancelled, timed out)."""

    job_id: str
    tool: str
    ok: bool
    text: str
    structured: dict[str, Any] | None = None
    attachments: Sequence[Attachment] = ()
    duration_s: float = 0.0
    error: str | None = None
    state: JobState | None = None

    def __post_init__(self) -> None:
        # Stored as a tuple so that the message stays immutable and compares equal however it was built.
        object.__setattr__(self, "attachments", tuple(self.attachments))
        if self.state is not None and (not self.state.finished or self.ok != (self.state is JobState.SUCCEEDED)):
            raise ValueError(f"a result that is {'ok' if self.ok else 'not ok'} cannot end {self.state.value}")

    @property
    def final_state(self) -> JobState:
        """How the job ended: ``state`` when given, else succeeded or failed by ``ok``."""
        if self.state is not None:
            return self.state
        return JobState.SUCCEEDED if self.ok else JobState.FAILED


@dataclass(frozen=True)
class ApprovalPrompt:
    """A risky job waits for someone allowed to approve it."""

    job_id: str
    tool: str
    arguments: dict[str, Any]
    requested_by: str
    approvers_hint: str | None = None


@dataclass(frozen=True)
class ChatReply:
    """A plain answer to a command; ``ephemeral`` ones are shown only to the person who asked."""

    text: str
    ephemeral: bool = False


class ChatAdapter(Protocol):
    """What the hub needs from a chat platform. Methods raise on failure; the caller retries."""

    async def post_status(self, thread: ThreadRef, status: StatusMessage) -> str:
        """Post a job's status message and return its message id."""
        ...

    async def update_status(self, thread: ThreadRef, message_id: str, status: StatusMessage) -> None:
        """Edit the status message posted earlier."""
        ...

    async def post_result(self, thread: ThreadRef, result: ResultMessage) -> None:
        """Post a finished job's result."""
        ...

    async def post_attachment(self, thread: ThreadRef, attachment: Attachment, data: bytes) -> None:
        """Upload a file a job produced into the thread."""
        ...

    async def post_approval(self, thread: ThreadRef, prompt: ApprovalPrompt) -> str:
        """Post an approval prompt with approve/deny controls and return its message id."""
        ...

    async def decide_approval(
        self, thread: ThreadRef, message_id: str, prompt: ApprovalPrompt, decision: str, by_user_id: str
    ) -> None:
        """Show the decision on the approval message (``approved``/``denied``) and remove its buttons."""
        ...

    async def reply(self, thread: ThreadRef, reply: ChatReply) -> None:
        """Answer a command in the thread."""
        ...


def _required_text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"thread reference field '{key}' must be a non-empty string")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"thread reference field '{key}' must be a string or null")
    return value


class ChatDeliveryError(Exception):
    """A chat platform refused a message for good (bad token, unknown channel, not a member)."""

    def __init__(self, platform: str, error: str) -> None:
        super().__init__(f"{platform}: {error}")
        self.platform = platform
        self.error = error


class ChatRateLimited(Exception):
    """The platform asked us to wait ``retry_after_s`` before the next call."""

    def __init__(self, platform: str, retry_after_s: float) -> None:
        super().__init__(f"{platform}: rate limited for {retry_after_s:g} s")
        self.platform = platform
        self.retry_after_s = retry_after_s
