"""Sweeps that keep jobs moving: dispatch waiting jobs, re-queue the jobs of lost agents, and
re-send queued runs whose arq job went missing (a Redis restart without persistence)."""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from arq.connections import ArqRedis
from tortoise.transactions import in_transaction

from hub.db.models import Job, JobStatus, OutboxMessage, Worker, WorkerStatus

from . import effects as job_effects
from . import lifecycle, outbox
from .lifecycle import run_job_id, utcnow

log = logging.getLogger(__name__)
SWEEP_BATCH = 200


async def dispatch_pending(redis: ArqRedis, tenant_id: UUID) -> int:
    """Route jobs that found no agent when they were created; return how many got one."""
    routed = 0
    ids = await Job.filter(tenant_id=tenant_id, status=JobStatus.CREATED).order_by("created_at").limit(SWEEP_BATCH)
    for candidate in ids:
        async with in_transaction() as connection:
            job = await lifecycle.lock_job(connection, candidate.id)
            if job is None or job.status is not JobStatus.CREATED:
                continue
            effects = lifecycle.Effects()
            if await lifecycle.dispatch(connection, job, effects):
                await job.save(using_db=connection)
                routed += 1
        await job_effects.apply(redis, tenant_id, effects)
    return routed


async def requeue_running(redis: ArqRedis, worker: Worker, *, reason: str) -> int:
    """Retry elsewhere every job the agent had started (it restarted or went silent)."""
    statuses = [JobStatus.RUNNING] if reason == "agent restarted" else [JobStatus.RUNNING, JobStatus.QUEUED]
    jobs = await Job.filter(worker_id=worker.id, status__in=statuses).limit(SWEEP_BATCH)
    for candidate in jobs:
        async with in_transaction() as connection:
            job = await lifecycle.lock_job(connection, candidate.id)
            if job is None or job.status not in statuses or job.worker_id != worker.id:  # type: ignore[attr-defined]
                continue
            effects = await lifecycle.fail_or_retry(connection, job, reason, lost_worker=worker.id)
        await job_effects.apply(redis, worker.tenant_id, effects)  # type: ignore[attr-defined]
    return len(jobs)


async def reap_lost_workers(redis: ArqRedis, timeout_s: float) -> int:
    """Mark agents whose heart-beat stopped offline and re-queue their jobs to other agents."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    lost = await Worker.filter(status=WorkerStatus.ONLINE, last_heartbeat_at__lt=cutoff)
    for worker in lost:
        updated = await Worker.filter(id=worker.id, status=WorkerStatus.ONLINE, last_heartbeat_at__lt=cutoff).update(
            status=WorkerStatus.OFFLINE
        )
        if updated:
            log.warning("agent lost", extra={"worker": worker.name})
            await requeue_running(redis, worker, reason="agent lost")
    return len(lost)


async def resend_stale_queued(redis: ArqRedis, older_than_s: float) -> int:
    """Re-enqueue queued runs not started for a while. Enqueueing is keyed by the run's arq job id,
    so a run still in Redis is left alone and one that Redis lost is queued again."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    stale = await Job.filter(status=JobStatus.QUEUED, queued_at__lt=cutoff).order_by("queued_at").limit(SWEEP_BATCH)
    resent = 0
    for job in stale:
        message = await OutboxMessage.get_or_none(dedupe_key=run_job_id(job.id, job.attempt))
        if message is not None and message.sent_at is not None and message.available_at <= utcnow():
            await outbox.send(redis, message)
            resent += 1
    return resent
