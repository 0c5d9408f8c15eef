"""Turning a tool call's outcome into a run report the hub will take (pure).

A report must fit the hub's bounds (``hub.routes.schemas.ReportResult``: at most ``MAX_OUTPUTS`` outputs,
and a body within the hub's request limit, 1 MiB by default), whatever the tool returned: a result the
hub refuses could never be recorded, and its job would stay running. So what does not fit inline is
uploaded as files instead (artifacts of the run), never dropped:

* a text longer than ``MAX_INLINE_TEXT``, or beyond ``MAX_INLINE_BYTES`` of inline text in all;
* structured content larger than ``MAX_STRUCTURED_BYTES`` (as ``structured.json``);
* texts and links beyond the outputs limit, together in one ``more-outputs.txt``; binaries beyond it are
  uploaded all the same (every upload is an artifact of the run), only without an entry in ``outputs``.

Sizes are counted as JSON, the way the report travels (escapes included)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from integrations.mcp.content import BinaryOutput, CallOutcome, ResourceLinkOutput, TextOutput

MAX_OUTPUTS = 200  # the hub's limit on one result's outputs
MAX_INLINE_TEXT = 32 * 1024  # characters of one text output sent inline
MAX_INLINE_BYTES = 256 * 1024  # JSON bytes of all inline text of one result
MAX_STRUCTURED_BYTES = 256 * 1024  # JSON bytes of structured content sent inline
MAX_ERROR_CHARS = 8000  # the hub's limit on a result's error
_RESERVED = 2  # output entries kept for more-outputs.txt and structured.json


@dataclass(frozen=True)
class Blob:
    name: str
    mime_type: str
    kind: str
    data: bytes


@dataclass
class Report:
    """The end of one run: ``result`` is the body for the result endpoint; its ``outputs`` may hold
    ``{"type": "blob", "index": i}`` placeholders for ``blobs[i]``, replaced by artifact references."""

    job_id: str
    attempt: int
    result: dict[str, Any]
    blobs: list[Blob] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.blobs: list[Blob] = []
        self.inline_bytes = 0
        self.left_over: list[str] = []

    @property
    def room(self) -> bool:
        return len(self.outputs) < MAX_OUTPUTS - _RESERVED

    def upload(self, blob: Blob, *, listed: bool = True) -> None:
        self.blobs.append(blob)
        if listed:
            self.outputs.append({"type": "blob", "index": len(self.blobs) - 1})

    def text(self, text: str) -> None:
        if not self.room:
            self.left_over.append(text)
            return
        size = len(json.dumps(text))
        if len(text) <= MAX_INLINE_TEXT and self.inline_bytes + size <= MAX_INLINE_BYTES:
            self.outputs.append({"type": "text", "text": text})
            self.inline_bytes += size
        else:
            self.upload(Blob(f"output-{len(self.blobs) + 1}.txt", "text/plain", "file", text.encode()))

    def link(self, link: ResourceLinkOutput) -> None:
        if not self.room:
            self.left_over.append(f"{link.name}: {link.uri}")
            return
        self.outputs.append({"type": "resource_link", "uri": link.uri, "name": link.name,
                             "mime_type": link.mime_type, "description": link.description})  # fmt: skip

    def structured(self, structured: dict[str, Any] | None) -> dict[str, Any] | None:
        if structured is None:
            return None
        if len(json.dumps(structured)) <= MAX_STRUCTURED_BYTES:
            return structured
        data = json.dumps(structured, ensure_ascii=False).encode()
        self.upload(Blob("structured.json", "application/json", "file", data))
        return None

    def finish(self) -> None:
        if self.left_over:
            self.upload(Blob("more-outputs.txt", "text/plain", "file", "\n\n".join(self.left_over).encode()))


def report_for(job_id: str, attempt: int, outcome: CallOutcome) -> Report:
    """The report of a finished call: small text inline, binaries and what does not fit as files."""
    builder = _Builder()
    for output in outcome.outputs:
        if isinstance(output, TextOutput):
            builder.text(output.text)
        elif isinstance(output, BinaryOutput):
            builder.upload(Blob(output.name, output.mime_type, output.kind, output.data), listed=builder.room)
        elif isinstance(output, ResourceLinkOutput):
            builder.link(output)
    structured = builder.structured(outcome.structured)
    builder.finish()
    result = {
        "attempt": attempt,
        "outcome": "tool_error" if outcome.is_error else "succeeded",
        "error": (outcome.text or "the tool reported an error")[:MAX_ERROR_CHARS] if outcome.is_error else None,
        "outputs": builder.outputs,
        "structured": structured,
    }
    return Report(job_id, attempt, result, builder.blobs)


def failure_report(
    job_id: str, attempt: int, outcome: str, error: str, *, retryable: bool, outcome_unknown: bool = False
) -> Report:
    """A run that ended without a result of the tool's: failed, timed out, cancelled. ``outcome_unknown``:
    the call had reached the tool, which may have done its work (the hub then retries it only when the
    tool is safe to repeat)."""
    body: dict[str, Any] = {"attempt": attempt, "outcome": outcome, "retryable": retryable,
                            "error": error[:MAX_ERROR_CHARS], "outputs": []}  # fmt: skip
    if outcome_unknown:
        body["outcome_unknown"] = True
    return Report(job_id, attempt, body)


META_PREFIX = "io.garageswarm/"


def call_meta(job_id: str, attempt: int) -> dict[str, Any]:
    """What every tool call carries in its request's ``_meta``: an idempotency key, the same for every attempt
    of a job (a server that remembers it can make a job's effect happen once, however often the job is
    retried), and which attempt this call is."""
    return {f"{META_PREFIX}idempotency-key": job_id, f"{META_PREFIX}job-id": job_id, f"{META_PREFIX}attempt": attempt}
