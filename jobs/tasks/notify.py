"""Bringing a job's chat thread up to date: one status message edited in place, then the result
and the attachments in the thread. Runs at most about once a second per job (see
``jobs.effects.notify_job_id``); a per-job lock keeps two runs from posting at once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from arq import Retry
from tortoise.transactions import in_transaction

from bot.ports import ChatAdapter, ChatDeliveryError, ChatRateLimited, ThreadRef
from bot.timeline import Timeline, approval_prompt, attachment_from, fold, result_message, status_message
from hub.db.models import Artifact, EventKind, Job, JobEvent
from jobs.lifecycle import Effects, append_event, lock_job

from ..context import WorkerContext, context_of

log = logging.getLogger(__name__)
LOCK_TTL_MS = 60_000


def thread_of(ref: dict[str, Any]) -> ThreadRef:
    return ThreadRef(
        platform=str(ref["platform"]), channel=str(ref["channel"]), thread=ref.get("thread"), team=ref.get("team")
    )


async def _events(job: Job) -> list[dict[str, Any]]:
    rows = await JobEvent.filter(job_id=job.id).order_by("seq")
    return [{"seq": e.seq, "kind": e.kind.value, "data": e.data, "at": e.created_at.isoformat()} for e in rows]


async def _post_status(adapter: ChatAdapter, job: Job, timeline: Timeline) -> None:
    ref = dict(job.thread_ref)
    status = status_message(timeline, datetime.now(UTC))
    if ref.get("status_id"):
        await adapter.update_status(thread_of(ref), str(ref["status_id"]), status)
        return
    message_id = await adapter.post_status(thread_of(ref), status)
    ref["status_id"] = message_id
    ref["thread"] = ref.get("thread") or message_id  # the status message starts the job's thread
    job.thread_ref = ref
    await job.save(update_fields=["thread_ref"])


async def _post_result(context: WorkerContext, adapter: ChatAdapter, job: Job, timeline: Timeline) -> None:
    thread = thread_of(job.thread_ref)
    artifacts = await Artifact.filter(job_id=job.id, attempt=job.attempt).order_by("created_at")
    attachments = []
    for artifact in artifacts:
        view = {"name": artifact.name, "mime_type": artifact.mime_type, "size_bytes": artifact.size_bytes}
        attachment = attachment_from(view, artifact.name)
        data = await asyncio.to_thread(context.storage.get, artifact.storage_key)
        await adapter.post_attachment(thread, attachment, data)
        attachments.append(attachment)
    await adapter.post_result(thread, result_message(timeline, job.result, attachments, datetime.now(UTC)))
    job.thread_ref = {**job.thread_ref, "result_posted": True}
    await job.save(update_fields=["thread_ref"])


async def _post_approval(adapter: ChatAdapter, job: Job, timeline: Timeline) -> None:
    """The approval prompt with its buttons, and once decided, the decision in its place."""
    prompt = approval_prompt(timeline)
    if prompt is None:
        return
    ref = dict(job.thread_ref)
    if not ref.get("approval_id"):
        ref["approval_id"] = await adapter.post_approval(thread_of(ref), prompt)
    decision = timeline.decision
    if decision is not None and not ref.get("approval_shown"):
        by = str(decision.get("user_id") or decision.get("by") or "")
        await adapter.decide_approval(thread_of(ref), str(ref["approval_id"]), prompt, str(decision["decision"]), by)
        ref["approval_shown"] = True
    if ref != job.thread_ref:
        job.thread_ref = ref
        await job.save(update_fields=["thread_ref"])


async def _bring_up_to_date(context: WorkerContext, adapter: ChatAdapter, job: Job) -> str:
    timeline = fold(str(job.id), job.tool, await _events(job))
    await _post_status(adapter, job, timeline)
    await _post_approval(adapter, job, timeline)
    if timeline.finished and not job.thread_ref.get("result_posted"):
        await _post_result(context, adapter, job, timeline)
        return "result posted"
    return f"status {timeline.state.value}"


async def _record_refusal(job: Job, exc: ChatDeliveryError) -> None:
    """Say in the job's log why its thread stays silent (once per distinct error)."""
    if job.thread_ref.get("refused") == exc.error:
        return
    job.thread_ref = {**job.thread_ref, "refused": exc.error}
    await job.save(update_fields=["thread_ref"])
    message = f"{exc.platform} refused the job's messages: {exc.error}"
    async with in_transaction() as connection:
        locked = await lock_job(connection, job.id)
        if locked is not None:
            await append_event(connection, locked, EventKind.LOG, {"level": "error", "message": message}, Effects())
            await locked.save(using_db=connection, update_fields=["next_seq"])


async def notify_thread(ctx: dict[str, Any], job_id: str) -> str:
    """The arq task: post or edit the job's status message; post the result once it is final."""
    context = context_of(ctx)
    job = await Job.get_or_none(id=job_id)
    if job is None:
        return "no such job"
    adapter = context.adapters.get(str(job.thread_ref.get("platform")))
    if adapter is None:
        return "no adapter for this platform"
    lock = f"gs:notify:lock:{job_id}"
    if not await context.redis.set(lock, b"1", nx=True, px=LOCK_TTL_MS):
        raise Retry(defer=0.5)
    try:
        return await _bring_up_to_date(context, adapter, job)
    except ChatRateLimited as exc:
        raise Retry(defer=exc.retry_after_s) from exc
    except ChatDeliveryError as exc:
        log.error("chat refused the job's messages", extra={"job_id": job_id, "error": exc.error})
        await _record_refusal(job, exc)
        return f"refused: {exc.error}"
    finally:
        await context.redis.delete(lock)
