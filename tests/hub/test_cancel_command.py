"""`/swarm cancel` says what it did: cancelled a waiting job, asked the agent to stop a running one, or
found the job already finished and changed nothing."""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from hub.db.models import Job, JobEvent, JobStatus, Origin, Worker
from hub.services import admin
from hub.services.commands import Requester, handle_text
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

    assert not late.ok and late.reply.endswith("succeeded (already finished: nothing to cancel)")
    assert again.ok and "cancelled — cancelled by slack:T:U (already finished" in again.reply
    assert await JobEvent.filter(job_id__in=[done.id, cancelled.id]).count() == 0
    await done.refresh_from_db()
    assert done.status is JobStatus.SUCCEEDED
