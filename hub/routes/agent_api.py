"""The agent API: agents register their tools, heart-beat, and report runs (agent keys only)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import WSMsgType, web
from tortoise import connections
from tortoise.transactions import in_transaction

from hub.auth import Agent, authenticate_agent, authenticate_worker
from hub.db.models import Artifact, EventKind, Job, JobEvent, JobStatus, Worker, WorkerStatus
from hub.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from hub.keys import JOBS, REDIS, SETTINGS, STORAGE
from hub.openapi import Response, endpoint, read_json
from hub.routes.agent_schemas import (
    BatchAnswer,
    EventsAnswer,
    EventsItem,
    ReportBatch,
    ResultAnswer,
    ResultItem,
    StartAnswer,
    StartItem,
)
from hub.routes.schemas import (
    Ack,
    ArtifactView,
    Heartbeat,
    Register,
    Registered,
    ReportEvents,
    ReportResult,
    ResultAccepted,
    StartDecision,
    StartRun,
)  # fmt: skip
from hub.routes.views import artifact_view
from hub.services import agent_sessions
from jobs import fastpath, lifecycle
from jobs.queue import agent_queue
from jobs.repeats import RepeatPolicy, declared_tool
from jobs.sweeps import dispatch_pending, requeue_running

log = logging.getLogger(__name__)
AGENT = ("workerKey",)
MAX_EVENT_BYTES = 16 * 1024
MAX_ARTIFACT_BYTES = 100 * 1024 * 1024
UNAUTHORIZED = Response("missing or invalid agent key")


def _job_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["job_id"])
    except ValueError:
        raise NotFound("no such job") from None


async def _mark_alive(worker: Worker, session_id: str | None = None) -> bool:
    """Record a heart-beat of the process holding the key; True when the agent was offline until now. A
    process that no longer holds it (another took the key over) is refused with :class:`Conflict`."""
    was_offline = worker.status is not WorkerStatus.ONLINE
    now = datetime.now(UTC)
    beating = Worker.filter(id=worker.id) if session_id is None else Worker.filter(id=worker.id, session_id=session_id)
    if not await beating.update(status=WorkerStatus.ONLINE, last_heartbeat_at=now):
        raise Conflict(agent_sessions.replaced_message(await Worker.get(id=worker.id)))
    worker.status, worker.last_heartbeat_at = WorkerStatus.ONLINE, now
    return was_offline


@endpoint(
    "Register the agent and the tools of its MCP servers (on start and when tools change)",
    tags=("agent",), security=AGENT, request=Register,
    responses={200: Response("registered", Registered), 401: UNAUTHORIZED,
               409: Response("another live process holds this agent's key (one key is one agent)")},
)  # fmt: skip
async def register(request: web.Request) -> web.Response:
    worker = await authenticate_worker(request)
    body = await read_json(request, Register)
    settings = request.app[SETTINGS]
    if body.session is not None:  # refused before anything of the live process is touched
        session = agent_sessions.Session(body.session.id, body.session.host, body.session.pid)
        worker, restarted = await agent_sessions.take(worker.id, session, datetime.now(UTC),
                                                      settings.heartbeat_timeout_s)  # fmt: skip
    else:  # an agent that does not name its process: it says itself whether it restarted
        restarted = request.query.get("restarted", "1") == "1"
    worker.tools = [tool.model_dump() for tool in body.tools]
    worker.labels = {**worker.labels, **body.labels}
    worker.max_concurrency = body.max_concurrency
    await worker.save(update_fields=["tools", "labels", "max_concurrency"])
    request.app[JOBS].forget_catalog(worker.tenant_id)  # type: ignore[attr-defined]
    await _mark_alive(worker)
    redis = request.app[REDIS]
    policy = RepeatPolicy(settings.safe_to_repeat)
    requeued = await requeue_running(redis, worker, reason="agent restarted", policy=policy) if restarted else 0
    await dispatch_pending(redis, worker.tenant_id)  # type: ignore[attr-defined]
    answer = Registered(
        worker_id=worker.id, name=worker.name, queue=agent_queue(str(worker.id)),
        heartbeat_interval_s=settings.heartbeat_interval_s, heartbeat_timeout_s=settings.heartbeat_timeout_s,
        requeued=requeued,
    )  # fmt: skip
    return web.json_response(text=answer.model_dump_json())


@endpoint(
    "Heart-beat over HTTP (the fallback of the WebSocket)",
    tags=("agent",), security=AGENT, request=Heartbeat,
    responses={200: Response("alive", Ack), 401: UNAUTHORIZED,
               409: Response("another process has taken this agent's key over: this one must stop")},
)  # fmt: skip
async def heartbeat(request: web.Request) -> web.Response:
    worker = await authenticate_worker(request)
    body = await read_json(request, Heartbeat)
    if await _mark_alive(worker, body.session):
        await dispatch_pending(request.app[REDIS], worker.tenant_id)  # type: ignore[attr-defined]
    return web.json_response({"ok": True, "detail": None})


@endpoint(
    "Heart-beat WebSocket (?session=ID): the agent sends {\"type\": \"heartbeat\"} every interval; a process "
    "that lost its key is told {\"type\": \"replaced\", \"detail\": ...} and the socket closes",
    tags=("agent",), security=AGENT,
    responses={101: Response("switching to WebSocket", Ack, example={"ok": True, "detail": "upgrade"}),
               401: UNAUTHORIZED, 409: Response("another process has taken this agent's key over")},
)  # fmt: skip
async def heartbeat_ws(request: web.Request) -> web.WebSocketResponse:
    worker = await authenticate_worker(request)
    session_id = request.query.get("session") or None
    agent_sessions.check_current(worker, session_id)
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(heartbeat=settings.heartbeat_interval_s * 2, max_msg_size=64 * 1024)
    await ws.prepare(request)
    try:
        await _beat_until_closed(request, ws, worker, session_id)
    except Conflict as exc:
        await ws.send_json({"type": "replaced", "detail": exc.message})
        await ws.close()
    finally:
        # aiohttp cancels the handler once the socket is gone: the record that it closed must still be written
        await asyncio.shield(agent_sessions.closed(worker.id, session_id, datetime.now(UTC)))
    return ws


async def _beat_until_closed(
    request: web.Request, ws: web.WebSocketResponse, worker: Worker, session_id: str | None
) -> None:
    if await _mark_alive(worker, session_id):
        await dispatch_pending(request.app[REDIS], worker.tenant_id)  # type: ignore[attr-defined]
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            continue
        beat: object = None
        with contextlib.suppress(ValueError):
            beat = json.loads(message.data)
        if isinstance(beat, dict) and beat.get("type") == "heartbeat":
            if await _mark_alive(worker, session_id):
                await dispatch_pending(request.app[REDIS], worker.tenant_id)  # type: ignore[attr-defined]
            await ws.send_json({"type": "ack"})


def _moved_runs(effects: lifecycle.Effects) -> set[tuple[UUID, int]]:
    """The runs (job, attempt) a one-statement transition moved, told by the events it inserted: a batch may
    name one job twice, a stale attempt beside the current one, and only the current one moved."""
    return {(event.job_id, event.attempt) for event in effects.events}  # type: ignore[attr-defined]


class _NoSuchJob(Exception):
    """A report names a job that does not exist, or whose current attempt is not this agent's."""


async def _locked_job(connection: Any, job_id: UUID, worker: Agent) -> Job:
    """The job, locked, when its current attempt is assigned to ``worker``. Any other caller gets the answer
    a job that does not exist gets (nothing tells it the job exists), and the refusal is logged: an agent
    reporting on a run it was not given is a bug, a late report after the job moved on, or a forgery."""
    job = await lifecycle.lock_job(connection, job_id)
    if job is None:
        raise _NoSuchJob
    if job.tenant_id != worker.tenant_id or job.worker_id != worker.id:  # type: ignore[attr-defined]
        log.warning(
            "agent report refused: the run is not assigned to this agent",
            extra={"job_id": str(job_id), "agent": str(worker.id), "assigned_agent": str(job.worker_id)},  # type: ignore[attr-defined]
        )
        raise _NoSuchJob
    return job


async def start_runs(worker: Agent, items: list[StartItem], effects: lifecycle.Effects) -> list[StartAnswer]:
    """Start the runs that may run, all in one statement; the others one by one on the general path,
    which says why not (stale attempt, already running, finished)."""
    runs = [fastpath.Run(item.job_id, item.attempt) for item in items]
    started = await fastpath.start(connections.get("default"), runs, worker.tenant_id, worker.id, worker.name)
    effects.extend(started)
    moved = _moved_runs(started)
    answers = []
    for item in items:
        if (item.job_id, item.attempt) in moved:
            answers.append(StartAnswer(job_id=item.job_id, run=True, reason="started"))
            continue
        try:
            async with in_transaction() as connection:
                job = await _locked_job(connection, item.job_id, worker)
                run, reason, more = await lifecycle.start(connection, job, worker.id, worker.name, item.attempt)
        except _NoSuchJob:
            answers.append(StartAnswer(job_id=item.job_id, run=False, reason="no such job", error="no such job"))
            continue
        effects.extend(more)
        answers.append(StartAnswer(job_id=item.job_id, run=run, reason=reason))
    return answers


@endpoint(
    "Ask to start a run; only the current attempt on its assigned agent may run",
    tags=("agent",), security=AGENT, request=StartRun,
    responses={200: Response("whether to run", StartDecision), 401: UNAUTHORIZED, 404: Response("no such job")},
)  # fmt: skip
async def start_run(request: web.Request) -> web.Response:
    worker = await authenticate_agent(request)
    body = await read_json(request, StartRun)
    effects = lifecycle.Effects()
    [answer] = await start_runs(worker, [StartItem(job_id=_job_id(request), attempt=body.attempt)], effects)
    request.app[JOBS].effects.apply_later(worker.tenant_id, effects)
    if answer.error is not None:
        raise NotFound(answer.error)
    return web.json_response({"run": answer.run, "reason": answer.reason})


async def record_events(worker: Agent, item: EventsItem, effects: lifecycle.Effects) -> EventsAnswer:
    """Append a run's progress and log events (ignored, not refused, when the attempt is stale)."""
    if (error := _too_large(item)) is not None:
        return EventsAnswer(job_id=item.job_id, ok=False, detail=error, error=error)
    try:
        async with in_transaction() as connection:
            job = await _locked_job(connection, item.job_id, worker)
            current = item.attempt == job.attempt and not job.status.finished
            if current:
                for event in item.events:
                    await lifecycle.append_event(connection, job, EventKind(event.kind), event.data, effects)
                await job.save(using_db=connection, update_fields=["next_seq"])
    except _NoSuchJob:
        return EventsAnswer(job_id=item.job_id, ok=False, detail="no such job", error="no such job")
    return EventsAnswer(job_id=item.job_id, ok=current, detail=None if current else "stale attempt")


def _too_large(item: EventsItem) -> str | None:
    if any(len(json.dumps(event.data)) > MAX_EVENT_BYTES for event in item.events):
        return f"an event's data is over {MAX_EVENT_BYTES} bytes"
    return None


async def record_many_events(worker: Agent, items: list[EventsItem], effects: lifecycle.Effects) -> list[EventsAnswer]:
    """Events of several runs in one statement (:func:`jobs.fastpath.append_events`); a run it does not
    move is answered on the general path (stale attempt, finished, no such job), as are repeats."""
    fast = [item for item in items if item.events and _too_large(item) is None]
    if len({item.job_id for item in fast}) != len(fast):
        fast = []  # one job twice in a batch: keep its events in order the slow way
    runs = [(fastpath.Run(item.job_id, item.attempt), [(EventKind(e.kind), e.data) for e in item.events])
            for item in fast]  # fmt: skip
    appended = await fastpath.append_events(connections.get("default"), runs, worker.tenant_id, worker.id)
    effects.extend(appended)
    moved = _moved_runs(appended) & {(item.job_id, item.attempt) for item in fast}
    return [
        EventsAnswer(job_id=item.job_id, ok=True) if (item.job_id, item.attempt) in moved
        else await record_events(worker, item, effects)
        for item in items
    ]  # fmt: skip


@endpoint(
    "Report progress, log messages and outputs of a run",
    tags=("agent",), security=AGENT, request=ReportEvents,
    responses={200: Response("recorded (stale attempts are ignored)", Ack), 401: UNAUTHORIZED,
               404: Response("no such job"), 413: Response("an event is too large")},
)  # fmt: skip
async def report_events(request: web.Request) -> web.Response:
    worker = await authenticate_agent(request)
    body = await read_json(request, ReportEvents)
    effects = lifecycle.Effects()
    item = EventsItem(job_id=_job_id(request), attempt=body.attempt, events=body.events)
    answer = await record_events(worker, item, effects)
    request.app[JOBS].effects.apply_later(worker.tenant_id, effects)
    if answer.error == "no such job":
        raise NotFound(answer.error)
    if answer.error is not None:
        raise PayloadTooLarge(answer.error)
    return web.json_response({"ok": answer.ok, "detail": answer.detail})


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"artifact larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"artifact larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@endpoint(
    "Upload an artifact of a run (raw body; Content-Type is its MIME type); idempotent by content",
    tags=("agent",), security=AGENT, query={"attempt": "the run's attempt", "name": "file name"},
    responses={200: Response("stored", ArtifactView), 401: UNAUTHORIZED, 404: Response("no such job"),
               409: Response("stale attempt"), 413: Response("too large")},
)  # fmt: skip
async def upload_artifact(request: web.Request) -> web.Response:
    worker = await authenticate_agent(request)
    try:
        attempt = int(request.query["attempt"])
        name = request.query["name"].strip()[:255]
    except (KeyError, ValueError):
        raise BadRequest("attempt (integer) and name are required") from None
    if name in ("", ".", "..") or any(c in name for c in "/\\\x00"):
        raise BadRequest("name must be a plain file name")
    data = await _read_limited(request, MAX_ARTIFACT_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    mime_type = request.content_type or "application/octet-stream"
    effects = lifecycle.Effects()
    async with in_transaction() as connection:
        try:
            job = await _locked_job(connection, _job_id(request), worker)
        except _NoSuchJob:
            raise NotFound("no such job") from None
        if attempt != job.attempt:
            raise Conflict("stale attempt")
        artifact = await Artifact.get_or_none(job_id=job.id, attempt=attempt, sha256=digest, name=name)
        if artifact is None:
            key = f"{job.id}/{digest}"
            await asyncio.to_thread(request.app[STORAGE].put, key, data)
            artifact = await Artifact.create(
                job_id=job.id, attempt=attempt, name=name, mime_type=mime_type, size_bytes=len(data),
                sha256=digest, storage_key=key, using_db=connection,
            )  # fmt: skip
            view = {"artifact_id": str(artifact.id), "name": name, "mime_type": mime_type, "size_bytes": len(data)}
            await lifecycle.append_event(connection, job, EventKind.ARTIFACT, view, effects)
            await job.save(using_db=connection, update_fields=["next_seq"])
    request.app[JOBS].effects.apply_later(job.tenant_id, effects)  # type: ignore[attr-defined]
    return web.json_response(text=artifact_view(artifact).model_dump_json())


async def _apply_result(connection: Any, job: Job, body: ReportResult, policy: RepeatPolicy) -> lifecycle.Effects:
    effects = lifecycle.Effects()
    job.result = {"outputs": body.outputs, "structured": body.structured}
    cancel_asked = (
        await JobEvent.filter(job_id=job.id, kind=EventKind.CANCEL_REQUESTED, attempt=job.attempt)
        .using_db(connection)
        .first()
    )
    if body.outcome == "succeeded":
        await lifecycle.finish(connection, job, JobStatus.SUCCEEDED, {"outputs": len(body.outputs)}, effects)
    elif body.outcome == "cancelled" or (cancel_asked and body.outcome in ("failed", "timed_out")):
        by = (cancel_asked.data or {}).get("by") if cancel_asked is not None else None
        reason = f"cancelled by {by}" if by else body.error or "cancelled"
        await lifecycle.finish(connection, job, JobStatus.CANCELLED, {"error": reason, **({"by": by} if by else {})},
                               effects)  # fmt: skip
    elif body.outcome == "tool_error" or not body.retryable:
        await lifecycle.finish(connection, job, JobStatus.FAILED, {"error": body.error or "tool error"}, effects)
    else:
        job.result = None
        what, timed_out = body.error or body.outcome, body.outcome == "timed_out"
        if body.outcome_unknown:  # the call may have had its effect: again only if that is safe
            agent = await Worker.filter(id=job.worker_id).using_db(connection).only("id", "tools").first()  # type: ignore[attr-defined]
            repeatable = policy.may_repeat(job.tool, declared_tool(agent.tools if agent else [], job.tool))
            return await lifecycle.unknown_outcome(connection, job, what, repeatable=repeatable, timed_out=timed_out,
                                                   lost_worker=job.worker_id)  # type: ignore[attr-defined]  # fmt: skip
        return await lifecycle.fail_or_retry(connection, job, what, timed_out=timed_out,
                                             lost_worker=job.worker_id)  # type: ignore[attr-defined]  # fmt: skip
    await job.save(using_db=connection)
    return effects


async def report_results(
    worker: Agent,
    items: list[ResultItem],
    effects: lifecycle.Effects,
    started: dict[UUID, StartAnswer],
    policy: RepeatPolicy,
) -> list[ResultAnswer]:
    """Record run results, idempotently by (job, attempt): the successes in one statement, the rest (and
    any success that statement did not take: duplicates, cancellations) one by one on the general path.
    ``started`` answers the start of every item marked ``start``: the result of a refused one is ignored."""
    starts = [started[item.job_id] if item.start else None for item in items]
    kept = [start is None or start.run for start in starts]
    wins = [(fastpath.Run(item.job_id, item.attempt), {"outputs": item.outputs, "structured": item.structured})
            for item, keep in zip(items, kept, strict=True) if keep and item.outcome == "succeeded"]  # fmt: skip
    done = await fastpath.succeed(connections.get("default"), wins, worker.tenant_id, worker.id)
    effects.extend(done)
    moved = _moved_runs(done)
    answers = []
    for item, start in zip(items, starts, strict=True):
        if start is not None and not start.run:
            answer = ResultAnswer(job_id=item.job_id, started=False, reason=start.reason, error=start.error)
        else:
            answer = await _result_answer(worker, item, moved, effects, policy)
            if start is not None:
                answer.started, answer.reason = True, start.reason
        answers.append(answer)
    return answers


async def _result_answer(
    worker: Agent, item: ResultItem, moved: set[tuple[UUID, int]], effects: lifecycle.Effects, policy: RepeatPolicy
) -> ResultAnswer:
    if item.outcome == "succeeded" and (item.job_id, item.attempt) in moved:
        return ResultAnswer(job_id=item.job_id, status="succeeded", duplicate=False)
    try:
        async with in_transaction() as connection:
            job = await _locked_job(connection, item.job_id, worker)
            duplicate = item.attempt != job.attempt or job.status.finished
            if not duplicate:
                effects.extend(await _apply_result(connection, job, item, policy))
    except _NoSuchJob:
        return ResultAnswer(job_id=item.job_id, error="no such job")
    return ResultAnswer(job_id=item.job_id, status=job.status.value, duplicate=duplicate)


@endpoint(
    "Report the result of a run; idempotent by (job, attempt)",
    tags=("agent",), security=AGENT, request=ReportResult,
    responses={200: Response("the job's state after the report", ResultAccepted), 401: UNAUTHORIZED,
               404: Response("no such job")},
)  # fmt: skip
async def report_result(request: web.Request) -> web.Response:
    worker = await authenticate_agent(request)
    body = await read_json(request, ReportResult)
    effects = lifecycle.Effects()
    item = ResultItem(job_id=_job_id(request), **body.model_dump())
    [answer] = await report_results(worker, [item], effects, {}, RepeatPolicy(request.app[SETTINGS].safe_to_repeat))
    request.app[JOBS].effects.apply_later(worker.tenant_id, effects)
    if answer.error is not None:
        raise NotFound(answer.error)
    return web.json_response({"status": answer.status, "duplicate": answer.duplicate})


async def _start_and_succeed(worker: Agent, body: ReportBatch, effects: lifecycle.Effects) -> dict[UUID, ResultAnswer]:
    """The successes marked ``start`` (quick read-only runs), started and finished in one statement; those
    it does not move, and any run the batch also names in its starts or events, take the general path."""
    named = {item.job_id for item in body.starts} | {item.job_id for item in body.events}
    counts = Counter(item.job_id for item in body.results)
    quick = [item for item in body.results if item.start and item.outcome == "succeeded"
             and item.job_id not in named and counts[item.job_id] == 1]  # fmt: skip
    runs = [(fastpath.Run(item.job_id, item.attempt), {"outputs": item.outputs, "structured": item.structured})
            for item in quick]  # fmt: skip
    done = await fastpath.start_and_succeed(connections.get("default"), runs, worker.tenant_id, worker.id, worker.name)
    effects.extend(done)
    moved = {event.job_id for event in done.events}  # type: ignore[attr-defined]
    return {job_id: ResultAnswer(job_id=job_id, status="succeeded", started=True, reason="started") for job_id in moved}


@endpoint(
    "Report several runs at once: starts, then events, then results, each answered on its own "
    "(the agent sends what is ready at the same moment together)",
    tags=("agent",), security=AGENT, request=ReportBatch,
    responses={200: Response("one answer per item, in order", BatchAnswer), 401: UNAUTHORIZED},
)  # fmt: skip
async def report_batch(request: web.Request) -> web.Response:
    worker = await authenticate_agent(request)
    body = await read_json(request, ReportBatch)
    effects = lifecycle.Effects()
    try:
        quick = await _start_and_succeed(worker, body, effects)
        rest = [item for item in body.results if item.job_id not in quick]
        implicit = [StartItem(job_id=item.job_id, attempt=item.attempt) for item in rest if item.start]
        starts = await start_runs(worker, [*body.starts, *implicit], effects)
        started = {answer.job_id: answer for answer in starts[len(body.starts) :]}
        events = await record_many_events(worker, body.events, effects)
        policy = RepeatPolicy(request.app[SETTINGS].safe_to_repeat)
        answers = iter(await report_results(worker, rest, effects, started, policy))
        results = [quick[item.job_id] if item.job_id in quick else next(answers) for item in body.results]
        answer = BatchAnswer(starts=starts[: len(body.starts)], events=events, results=results)
    finally:
        request.app[JOBS].effects.apply_later(worker.tenant_id, effects)  # what committed before a failure
    await asyncio.sleep(0)  # the live viewers' writers go first: someone is waiting for the result there
    return web.json_response(text=answer.model_dump_json())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/agent/register", register)
    app.router.add_post("/api/v1/agent/heartbeat", heartbeat)
    app.router.add_get("/api/v1/agent/ws", heartbeat_ws)
    app.router.add_post("/api/v1/agent/jobs/{job_id}/start", start_run)
    app.router.add_post("/api/v1/agent/jobs/{job_id}/events", report_events)
    app.router.add_put("/api/v1/agent/jobs/{job_id}/artifacts", upload_artifact)
    app.router.add_post("/api/v1/agent/jobs/{job_id}/result", report_result)
    app.router.add_post("/api/v1/agent/reports", report_batch)
