"""Request and response bodies of the REST and agent APIs (their JSON Schemas feed OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

TOOL_NAME = r"^[a-z0-9_-]{1,64}\.[A-Za-z0-9_.-]{1,128}$"
_JOB_ID = "5f0c6a52-3a3e-4c3b-9a57-4b1d0a1e9c11"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class CreateJob(BaseModel):
    tool: str = Field(pattern=TOOL_NAME, description="SERVER.TOOL")
    arguments: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, max_length=200)

    model_config = _examples({"tool": "demo.echo", "arguments": {"text": "hello"}, "idempotency_key": "req-42"})


class EventView(BaseModel):
    seq: int
    kind: str
    attempt: int
    data: dict[str, Any]
    at: datetime


class ArtifactView(BaseModel):
    id: UUID
    name: str
    mime_type: str
    size_bytes: int
    sha256: str
    url: str

    model_config = _examples(
        {"id": "0b7e1c1e-8d7c-4d52-9a3c-6f1f3e0f5a10", "name": "image.png", "mime_type": "image/png",
         "size_bytes": 2048, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
         "url": "/api/v1/artifacts/0b7e1c1e-8d7c-4d52-9a3c-6f1f3e0f5a10"}
    )  # fmt: skip


class JobView(BaseModel):
    id: UUID
    tool: str
    arguments: dict[str, Any]
    status: str
    attempt: int
    max_retries: int
    origin: str
    requester: str
    worker: str | None
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result: dict[str, Any] | None
    events: list[EventView] | None = None
    artifacts: list[ArtifactView] | None = None

    model_config = _examples(
        {"id": _JOB_ID, "tool": "demo.echo", "arguments": {"text": "hello"}, "status": "succeeded", "attempt": 0,
         "max_retries": 3, "origin": "api", "requester": "api:automation", "worker": "garage-1",
         "created_at": "2026-11-25T10:00:00Z", "queued_at": "2026-11-25T10:00:00Z",
         "started_at": "2026-11-25T10:00:00Z", "finished_at": "2026-11-25T10:00:01Z", "error": None,
         "result": {"outputs": [{"type": "text", "text": "hello"}], "structured": None}}
    )  # fmt: skip


class JobList(BaseModel):
    jobs: list[JobView]
    next: str | None = None  # more jobs follow: pass this as `before` for the next page

    model_config = _examples({"jobs": [], "next": None})


class ToolView(BaseModel):
    name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = Field(default=False, description="the server's readOnlyHint: the call changes nothing")
    idempotent: bool = Field(default=False, description="the server's idempotentHint: calling twice = calling once")
    safe_to_repeat: bool | None = Field(
        default=None, description="the agent operator's override (its TOML): whether a call whose outcome is "
        "unknown (its agent was lost mid-call) may run again; unset: the server's hints decide",
    )  # fmt: skip


class WorkerView(BaseModel):
    id: UUID
    name: str
    status: str
    labels: dict[str, str]
    tools: list[ToolView]
    max_concurrency: int
    active_jobs: int
    last_heartbeat_at: datetime | None

    model_config = _examples(
        {"id": "1d7e1c1e-8d7c-4d52-9a3c-6f1f3e0f5a10", "name": "garage-1", "status": "online",
         "labels": {"gpu": "4090"},
         "tools": [{"name": "demo.echo", "description": "Echo text", "input_schema": {"type": "object"}}],
         "max_concurrency": 8, "active_jobs": 1, "last_heartbeat_at": "2026-11-25T10:00:00Z"}
    )  # fmt: skip


class WorkerList(BaseModel):
    workers: list[WorkerView]

    model_config = _examples({"workers": []})


class AgentSession(BaseModel):
    """The agent process presenting the key: one key is one agent, held by one process at a time."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="random, new for every start of the agent")
    host: str = Field(default="", max_length=255)
    pid: int = Field(default=0, ge=0)

    model_config = _examples({"id": "3f1c9b0e7a2d4e8f", "host": "gpu-box", "pid": 4242})


class Register(BaseModel):
    tools: list[ToolView] = Field(max_length=2000)
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    session: AgentSession | None = Field(
        default=None, description="the process registering; a second live process with the same key is refused"
    )

    model_config = _examples(
        {"tools": [{"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object"}}],
         "labels": {"gpu": "none"}, "max_concurrency": 8}
    )  # fmt: skip


class Registered(BaseModel):
    worker_id: UUID
    name: str
    queue: str
    heartbeat_interval_s: float
    heartbeat_timeout_s: float
    requeued: int

    model_config = _examples(
        {"worker_id": "1d7e1c1e-8d7c-4d52-9a3c-6f1f3e0f5a10", "name": "garage-1", "queue": "gs:queue:agent:1d7e…",
         "heartbeat_interval_s": 5.0, "heartbeat_timeout_s": 20.0, "requeued": 0}
    )  # fmt: skip


class Heartbeat(BaseModel):
    active_jobs: int = Field(default=0, ge=0)
    session: str | None = Field(default=None, max_length=64, description="the registered session's id")

    model_config = _examples({"active_jobs": 2})


class Ack(BaseModel):
    ok: bool
    detail: str | None = None

    model_config = _examples({"ok": True, "detail": None})


class StartRun(BaseModel):
    attempt: int = Field(ge=0)

    model_config = _examples({"attempt": 0})


class StartDecision(BaseModel):
    run: bool
    reason: str

    model_config = _examples({"run": True, "reason": "started"})


class ReportedEvent(BaseModel):
    kind: Literal["progress", "log", "output"]
    data: dict[str, Any]


class ReportEvents(BaseModel):
    attempt: int = Field(ge=0)
    events: list[ReportedEvent] = Field(max_length=500)

    model_config = _examples(
        {"attempt": 0, "events": [{"kind": "progress", "data": {"progress": 3, "total": 10, "message": "step 3"}}]}
    )


Outcome = Literal["succeeded", "tool_error", "failed", "timed_out", "cancelled"]


class ReportResult(BaseModel):
    attempt: int = Field(ge=0)
    outcome: Outcome
    retryable: bool = False
    outcome_unknown: bool = Field(
        default=False, description="the call reached the tool and ended without its answer (the server was lost, "
        "the call timed out or the agent stopped): it may have had its effect, so it is retried only when the "
        "tool is safe to repeat",
    )  # fmt: skip
    error: str | None = Field(default=None, max_length=8000)
    outputs: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    structured: dict[str, Any] | None = None

    model_config = _examples(
        {"attempt": 0, "outcome": "succeeded", "retryable": False, "error": None,
         "outputs": [{"type": "text", "text": "hello"}], "structured": None}
    )  # fmt: skip


class ResultAccepted(BaseModel):
    status: str
    duplicate: bool

    model_config = _examples({"status": "succeeded", "duplicate": False})


class ConsoleCommand(BaseModel):
    text: str = Field(max_length=4000)

    model_config = _examples({"text": "/swarm tool demo.echo text=hello"})


class ConsoleReply(BaseModel):
    reply: str
    ok: bool
    job: JobView | None = None
    follow: bool = False

    model_config = _examples({"reply": "Queued demo.echo as job 5f0c6a52", "ok": True, "job": None, "follow": True})
