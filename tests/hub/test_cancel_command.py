"""`/swarm cancel` says what it did: cancelled a waiting job, asked the agent to stop a running one, or
found the job already finished and changed nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from hub.db.models import Job, JobEvent, JobStatus, Origin, Worker
from hub.services import admin
from hub.services.commands import Requester, describe, handle_text
from hub.services.jobs import JobServices
from jobs.effects import EffectApplier


async def _setup(redis_url: str) -> tuple[JobServices, Requester]:
    services = JobServices(EffectApplier(ArqRedis(connection_pool=ConnectionPool.from_url(redis_url))))
    tenant = await admin.ensure_tenant()
    thread = {"platform": "console", "channel": "ada", "thread": None, "team": None}
    requester = Requester(tenant_id=tenant.id, origin=Origin.CONSOLE, identity="console:ada", thread_ref=thread)
    return services, requester


async def _job(requester: Requester, status: JobStatus, **more: object) -> Job:
    return await Job.create(tenant_id=requester.tenant_id, origin=Origin.CONSOLE, requester="console:ada",
                            tool="demo.sleep", status=status, **more)  # fmt: skip


async def test_a_queued_job_is_cancelled_at_once(orm: None, redis_url: str) -> None:
    services, requester = await _setup(redis_url)
    job = await _job(requester, JobStatus.QUEUED)

    outcome = await handle_text(services, requester, f"cancel {job.id}")

    assert (outcome.ok, outcome.reply) == (True, f"Cancelled job {str(job.id)[:8]} (demo.sleep)")
    await job.refresh_from_db()
    assert job.status is JobStatus.CANCELLED and job.error == "cancelled by console:ada"


async def test_a_running_job_is_asked_to_stop_on_its_agent(orm: None, redis_url: str) -> None:
    services, requester = await _setup(redis_url)
    worker = await Worker.create(tenant_id=requester.tenant_id, name="garage-1", api_key_prefix="p", api_key_hash="h")
    job = await _job(requester, JobStatus.RUNNING, worker_id=worker.id)

    outcome = await handle_text(services, requester, f"cancel {str(job.id)[:8]}")

    assert outcome.ok and outcome.reply.startswith(f"Cancelling job {str(job.id)[:8]} (demo.sleep): its agent")
    assert not outcome.follow, "the answer is posted, not replaced by the job's thread"
    await job.refresh_from_db()
    assert job.status is JobStatus.RUNNING, "it ends when the agent reports the call cancelled"
    assert await JobEvent.filter(job_id=job.id, kind="cancel_requested").count() == 1


async def test_a_finished_job_is_left_as_it_is(orm: None, redis_url: str) -> None:
    services, requester = await _setup(redis_url)
    done = await _job(requester, JobStatus.SUCCEEDED)
    cancelled = await _job(requester, JobStatus.CANCELLED, error="cancelled by slack:T:U")

    late = await handle_text(services, requester, f"cancel {done.id}")
    again = await handle_text(services, requester, f"cancel {cancelled.id}")

    assert not late.ok and late.reply.startswith(f"Job {str(done.id)[:8]} (demo.sleep): succeeded in ")
    assert late.reply.endswith(" (already finished: nothing to cancel)")
    assert again.ok and " — cancelled by slack:T:U (already finished: nothing to cancel)" in again.reply
    assert await JobEvent.filter(job_id__in=[done.id, cancelled.id]).count() == 0
    await done.refresh_from_db()
    assert done.status is JobStatus.SUCCEEDED


def _unsaved(status: JobStatus, **fields: object) -> Job:
    at = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    values: dict[str, object] = {"id": UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"), "tool": "demo.sleep",
                                 "status": status, "created_at": at, "attempt": 0, "max_retries": 3,
                                 "error": None}  # fmt: skip
    values.update(fields)
    return Job(**values)


def _at(seconds: float) -> datetime:
    return datetime(2026, 11, 26, 10, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def test_a_status_line_says_where_the_job_is_and_for_how_long() -> None:
    now = _at(20)
    lines = [
        describe(_unsaved(JobStatus.CREATED), None, now),
        describe(_unsaved(JobStatus.QUEUED, queued_at=_at(1)), "gpu-1", now),
        describe(_unsaved(JobStatus.RUNNING, queued_at=_at(1), started_at=_at(7.7)), "gpu-1", now),
        describe(_unsaved(JobStatus.SUCCEEDED, started_at=_at(7), finished_at=_at(7.85)), "gpu-1", now),
        describe(
            _unsaved(JobStatus.FAILED, started_at=_at(2), finished_at=_at(5), attempt=3, error="boom"), "gpu-1", now
        ),
        describe(_unsaved(JobStatus.CANCELLED, finished_at=_at(4), error="cancelled by console:ada"), None, now),
        describe(_unsaved(JobStatus.AWAITING_APPROVAL), None, now),
    ]

    assert lines == [
        "Job 1b4e28ba (demo.sleep): waiting for an agent with this tool (20.0 s)",
        "Job 1b4e28ba (demo.sleep): queued on gpu-1 (19.0 s)",
        "Job 1b4e28ba (demo.sleep): running on gpu-1 for 12.3 s",
        "Job 1b4e28ba (demo.sleep): succeeded in 850 ms on gpu-1",
        "Job 1b4e28ba (demo.sleep): failed after 3.0 s on gpu-1 (attempt 4 of 4) — boom",
        "Job 1b4e28ba (demo.sleep): cancelled after 4.0 s — cancelled by console:ada",
        "Job 1b4e28ba (demo.sleep): waiting for approval (20.0 s)",
    ]
