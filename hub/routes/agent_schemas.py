"""Bodies of the agent API's batch endpoint: the reports of several runs in one request, each answered
on its own (the same rules as the per-run endpoints, whose bodies these extend with the job id)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hub.routes.schemas import ReportEvents, ReportResult, StartRun

_JOB_ID = "5f0c6a52-3a3e-4c3b-9a57-4b1d0a1e9c11"
MAX_BATCH_ITEMS = 500


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class StartItem(StartRun):
    job_id: UUID

    model_config = _examples({"job_id": _JOB_ID, "attempt": 0})


class EventsItem(ReportEvents):
    job_id: UUID

    model_config = _examples(
        {"job_id": _JOB_ID, "attempt": 0, "events": [{"kind": "progress", "data": {"progress": 1}}]}
    )


class ResultItem(ReportResult):
    job_id: UUID
    start: bool = Field(
        default=False,
        description="the run was not started on its own (a read-only call that finished at once): start it "
        "first, in this request; the result counts only if the start is granted",
    )

    model_config = _examples(
        {"job_id": _JOB_ID, "attempt": 0, "outcome": "succeeded", "outputs": [{"type": "text", "text": "hello"}]}
    )


class ReportBatch(BaseModel):
    """Applied in this order: starts (with those of results marked ``start``), then events, then results
    (a run's events come before its result)."""

    starts: list[StartItem] = Field(default_factory=list, max_length=MAX_BATCH_ITEMS)
    events: list[EventsItem] = Field(default_factory=list, max_length=MAX_BATCH_ITEMS)
    results: list[ResultItem] = Field(default_factory=list, max_length=MAX_BATCH_ITEMS)

    model_config = _examples(
        {"starts": [{"job_id": _JOB_ID, "attempt": 0}], "events": [],
         "results": [{"job_id": "0b9b7c1e-8f0e-4d43-a6a4-2f1c0c3b7e55", "attempt": 1, "outcome": "succeeded",
                      "outputs": [{"type": "text", "text": "hello"}]}]}
    )  # fmt: skip


class StartAnswer(BaseModel):
    job_id: UUID
    run: bool
    reason: str
    error: str | None = Field(default=None, description="set when the item was refused (no such job)")


class EventsAnswer(BaseModel):
    job_id: UUID
    ok: bool
    detail: str | None = None
    error: str | None = Field(default=None, description="set when the item was refused (no such job, too large)")


class ResultAnswer(BaseModel):
    job_id: UUID
    status: str | None = None
    duplicate: bool = False
    started: bool | None = Field(
        default=None, description="for a result marked start: whether the run was started (if not, it is ignored)"
    )
    reason: str | None = Field(default=None, description="for a result marked start: the start's reason")
    error: str | None = Field(default=None, description="set when the item was refused (no such job)")


class BatchAnswer(BaseModel):
    """One answer per item, in the order of the request."""

    starts: list[StartAnswer]
    events: list[EventsAnswer]
    results: list[ResultAnswer]

    model_config = _examples(
        {"starts": [{"job_id": _JOB_ID, "run": True, "reason": "started", "error": None}], "events": [],
         "results": [{"job_id": "0b9b7c1e-8f0e-4d43-a6a4-2f1c0c3b7e55", "status": "succeeded", "duplicate": False,
                      "error": None}]}
    )  # fmt: skip
