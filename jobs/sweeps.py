"""Sweeps that keep jobs moving: dispatch waiting jobs, re-queue the jobs of lost agents, and
re-send queued runs whose arq job went missing (a Redis restart without persistence)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from tortoise.transactions import in_transaction

from hub.db.models import Job, JobStatus, OutboxMessage, Worker, WorkerStatus

from . import effects as job_effects
from . import lifecycle, outbox
from .lifecycle import run_job_id, utcnow
from .queue import enqueue_many
from .repeats import RepeatPolicy, declared_tool

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


async def requeue_running(redis: ArqRedis, worker: Worker, *, reason: str, policy: RepeatPolicy) -> int:
    """Move on every job the agent held (it restarted: the runs it had started; it went silent: its queued
    runs too). A queued run goes to another agent; a started one is retried only when its tool is safe to
    repeat (it may have had its effect), else it fails saying why. Returns how many jobs moved."""
    statuses = [JobStatus.RUNNING] if reason == "agent restarted" else [JobStatus.RUNNING, JobStatus.QUEUED]
    moved, after = 0, None
    while True:  # every job, a batch at a time, in id order (a job moved back to this agent is not seen twice)
        held = Job.filter(worker_id=worker.id, status__in=statuses)
        batch = await (held.filter(id__gt=after) if after else held).order_by("id").limit(SWEEP_BATCH).only("id")
        if not batch:
            return moved
        for candidate in batch:
            moved += await _move_on(redis, worker, candidate.id, reason, statuses, policy)
        after = batch[-1].id


async def _move_on(
    redis: ArqRedis, worker: Worker, job_id: UUID, reason: str, statuses: list[JobStatus], policy: RepeatPolicy
) -> int:
    async with in_transaction() as connection:
        job = await lifecycle.lock_job(connection, job_id)
        if job is None or job.status not in statuses or job.worker_id != worker.id:  # type: ignore[attr-defined]
            return 0
        if job.status is JobStatus.RUNNING:
            repeatable = policy.may_repeat(job.tool, declared_tool(worker.tools, job.tool))
            what = f"{reason} while the tool was running"
            effects = await lifecycle.unknown_outcome(connection, job, what, repeatable=repeatable,
                                                      lost_worker=worker.id)  # fmt: skip
        else:
            effects = await lifecycle.fail_or_retry(connection, job, reason, lost_worker=worker.id)
    await job_effects.apply(redis, worker.tenant_id, effects)  # type: ignore[attr-defined]
    return 1


async def reap_lost_workers(redis: ArqRedis, timeout_s: float, policy: RepeatPolicy) -> int:
    """Mark agents whose heart-beat stopped offline and move their jobs on (:func:`requeue_running`)."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    lost = await Worker.filter(status=WorkerStatus.ONLINE, last_heartbeat_at__lt=cutoff)
    for worker in lost:
        updated = await Worker.filter(id=worker.id, status=WorkerStatus.ONLINE, last_heartbeat_at__lt=cutoff).update(
            status=WorkerStatus.OFFLINE
        )
        if updated:
            log.warning("agent lost", extra={"worker": worker.name})
            await requeue_running(redis, worker, reason="agent lost", policy=policy)
    return len(lost)


async def resend_stale_queued(redis: ArqRedis, older_than_s: float) -> int:
    """Re-enqueue queued runs not started for a while. Enqueueing is keyed by the run's arq job id, so a run
    still in Redis is left alone and one that Redis lost is queued again. A run whose arq job is gone but
    whose result is there was consumed without being started (its agent gave it up): it can never be
    enqueued again under its id, so the job moves on to a new attempt."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    stale = await Job.filter(status=JobStatus.QUEUED, queued_at__lt=cutoff).order_by("queued_at").limit(SWEEP_BATCH)
    resent = 0
    for job in stale:
        run_id = run_job_id(job.id, job.attempt)
        message = await OutboxMessage.get_or_none(dedupe_key=run_id)
        if message is None or message.sent_at is None or message.available_at > utcnow():
            continue
        [new] = await enqueue_many(redis, outbox.enqueue_items([message]))
        resent += new
        if not new and not await redis.exists(job_key_prefix + run_id):
            await _requeue_spent(redis, job.id, job.attempt, cutoff)
    return resent


async def _requeue_spent(redis: ArqRedis, job_id: UUID, attempt: int, cutoff: datetime) -> None:
    async with in_transaction() as connection:
        job = await lifecycle.lock_job(connection, job_id)
        if job is None or job.status is not JobStatus.QUEUED or job.attempt != attempt:
            return
        if job.queued_at is None or job.queued_at >= cutoff:
            return
        log.warning("a queued run was consumed without starting; moving the job on", extra={"job_id": str(job_id)})
        effects = await lifecycle.fail_or_retry(connection, job, "its run was given up before it started")
    await job_effects.apply(redis, job.tenant_id, effects)  # type: ignore[attr-defined]
