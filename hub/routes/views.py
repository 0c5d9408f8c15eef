"""Database rows to API views."""

from __future__ import annotations

from hub.db.models import Artifact, Job, JobEvent, Worker
from hub.routes.schemas import ArtifactView, EventView, JobView, ToolView, WorkerView


def event_view(event: JobEvent) -> EventView:
    return EventView(seq=event.seq, kind=event.kind.value, attempt=event.attempt, data=event.data, at=event.created_at)


def artifact_view(artifact: Artifact) -> ArtifactView:
    return ArtifactView(
        id=artifact.id, name=artifact.name, mime_type=artifact.mime_type, size_bytes=artifact.size_bytes,
        sha256=artifact.sha256, url=f"/api/v1/artifacts/{artifact.id}",
    )  # fmt: skip


def job_view(
    job: Job,
    worker_name: str | None = None,
    events: list[JobEvent] | None = None,
    artifacts: list[Artifact] | None = None,
) -> JobView:
    return JobView(
        id=job.id, tool=job.tool, arguments=job.arguments, status=job.status.value, attempt=job.attempt,
        max_retries=job.max_retries, origin=job.origin.value, requester=job.requester, worker=worker_name,
        created_at=job.created_at, queued_at=job.queued_at, started_at=job.started_at, finished_at=job.finished_at,
        error=job.error, result=job.result,
        events=None if events is None else [event_view(e) for e in events],
        artifacts=None if artifacts is None else [artifact_view(a) for a in artifacts],
    )  # fmt: skip


def worker_view(worker: Worker, active_jobs: int) -> WorkerView:
    return WorkerView(
        id=worker.id, name=worker.name, status=worker.status.value, labels=worker.labels,
        tools=[ToolView.model_validate(t) for t in worker.tools], max_concurrency=worker.max_concurrency,
        active_jobs=active_jobs, last_heartbeat_at=worker.last_heartbeat_at,
    )  # fmt: skip
