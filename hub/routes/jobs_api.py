"""REST API for jobs, workers and artifacts (API tokens)."""

from __future__ import annotations

from urllib.parse import quote
from uuid import UUID

from aiohttp import web
from tortoise import connections
from tortoise.expressions import Q

from bot.commands import CommandError
from hub.auth import Caller, authenticate_caller
from hub.db.models import Artifact, Job, JobStatus, Origin, Worker
from hub.errors import BadRequest, Conflict, NotFound, UnprocessableEntity
from hub.keys import JOBS, SETTINGS, STORAGE
from hub.openapi import Response, endpoint, read_json
from hub.routes.schemas import CreateJob, JobList, JobView, WorkerList
from hub.routes.views import job_view, worker_view
from hub.services import jobs as job_service
from hub.sso.guard import require_approver, require_reader, require_run
from jobs.lifecycle import Decision, NewJob

API = ("apiToken",)
NOT_FOUND = Response("no such job in your tenant")
FORBIDDEN = Response("your roles (or the token's scopes) do not allow this")
LIST_LIMIT_MAX = 200


def _uuid(raw: str, what: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"{what} {raw} not found") from None


@endpoint(
    "Create a job: run SERVER.TOOL on an agent that has it",
    tags=("jobs",), security=API, request=CreateJob,
    responses={201: Response("created and queued", JobView), 200: Response("repeated idempotency key", JobView),
               401: Response("missing or invalid API token"), 403: FORBIDDEN,
               422: Response("unknown tool or invalid arguments")},
)  # fmt: skip
async def create_job(request: web.Request) -> web.Response:
    caller = await authenticate_caller(request)
    body = await read_json(request, CreateJob)
    await require_run(request, caller, body.tool)
    new = NewJob(
        tenant_id=caller.tenant_id, origin=Origin.API, tool=body.tool, arguments=body.arguments,
        requester=f"api:{caller.name}", idempotency_key=body.idempotency_key,
        max_retries=request.app[SETTINGS].max_retries,
    )  # fmt: skip
    try:
        job, created = await request.app[JOBS].submit(new)
    except CommandError as exc:
        raise UnprocessableEntity(exc.message, details={"usage": exc.usage}) from None
    view = job_view(job, await request.app[JOBS].worker_name(job))
    return web.json_response(text=view.model_dump_json(), status=201 if created else 200)


@endpoint(
    "List jobs, newest first; a page that is not the last one names the next in `next` (pass it as `before`)",
    tags=("jobs",), security=API,
    query={"status": "filter by status", "limit": "at most 200 (default 50)",
           "before": "only jobs older than this job (the `next` of the previous page)"},
    responses={200: Response("jobs", JobList), 400: Response("bad filter")},
)  # fmt: skip
async def list_jobs(request: web.Request) -> web.Response:
    caller = await authenticate_caller(request)
    await require_reader(request, caller)
    query = Job.filter(tenant_id=caller.tenant_id)
    if status := request.query.get("status"):
        if status not in {s.value for s in JobStatus}:
            raise BadRequest(f"unknown status {status!r}")
        query = query.filter(status=status)
    try:
        limit = min(LIST_LIMIT_MAX, max(1, int(request.query.get("limit", "50"))))
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    if before := request.query.get("before"):
        query = query.filter(await _older_than(caller, before))
    # Newest first, ties by id: a stable order, so that paging by the last job neither skips nor repeats one.
    jobs = await query.order_by("-created_at", "-id").limit(limit + 1).prefetch_related("worker")
    views = [job_view(job, job.worker.name if job.worker else None) for job in jobs[:limit]]
    following = str(jobs[limit - 1].id) if len(jobs) > limit else None
    return web.json_response(text=JobList(jobs=views, next=following).model_dump_json())


async def _older_than(caller: Caller, before: str) -> Q:
    """The jobs listed after ``before`` in newest-first order."""
    try:
        job_id = UUID(before)
    except ValueError:
        raise BadRequest("before must be a job id (the `next` of the previous page)") from None
    last = await Job.filter(id=job_id, tenant_id=caller.tenant_id).only("id", "created_at").first()
    if last is None:
        raise BadRequest(f"before: no job {before} in your tenant")
    return Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, id__lt=last.id)


@endpoint(
    "A job with its event log and artifacts",
    tags=("jobs",), security=API, responses={200: Response("the job", JobView), 404: NOT_FOUND},
)  # fmt: skip
async def get_job(request: web.Request) -> web.Response:
    caller = await authenticate_caller(request)
    await require_reader(request, caller)
    job = await job_service.find_job(caller.tenant_id, request.match_info["job_id"])
    events, artifacts = await job_service.job_details(job)
    view = job_view(job, await request.app[JOBS].worker_name(job), events, artifacts)
    return web.json_response(text=view.model_dump_json())


@endpoint(
    "Cancel a job (a running one is stopped on its agent through MCP cancellation)",
    tags=("jobs",), security=API, responses={200: Response("the job after the request", JobView), 403: FORBIDDEN,
               404: NOT_FOUND},
)  # fmt: skip
async def cancel_job(request: web.Request) -> web.Response:
    caller = await authenticate_caller(request)
    job = await job_service.find_job(caller.tenant_id, request.match_info["job_id"])
    await require_run(request, caller, job.tool)
    job = await request.app[JOBS].cancel(caller.tenant_id, job.id, by=f"api:{caller.name}", actor=_actor(caller))
    return web.json_response(text=job_view(job, await request.app[JOBS].worker_name(job)).model_dump_json())


@endpoint(
    "Retry by hand a job that failed, timed out or was cancelled: one more attempt (a tool that needs approval "
    "asks for it again)",
    tags=("jobs",), security=API,
    responses={200: Response("the job, retried", JobView), 403: FORBIDDEN, 404: NOT_FOUND,
               409: Response("the job has not ended, or it succeeded")},
)  # fmt: skip
async def retry_job(request: web.Request) -> web.Response:
    caller = await authenticate_caller(request)
    job = await job_service.find_job(caller.tenant_id, request.match_info["job_id"])
    await require_run(request, caller, job.tool)
    job, retried, reason = await request.app[JOBS].retry(caller.tenant_id, job.id, by=f"api:{caller.name}",
                                                         actor=_actor(caller))  # fmt: skip
    if not retried:
        raise Conflict(reason)
    return web.json_response(text=job_view(job, await request.app[JOBS].worker_name(job)).model_dump_json())


def _actor(caller: Caller) -> str:
    return f"user:{caller.user_id}" if caller.user_id else f"token:{caller.token_id}"


async def _decide(request: web.Request, decision: Decision) -> web.Response:
    caller = await authenticate_caller(request)
    await require_approver(request, caller)
    job = await job_service.find_job(caller.tenant_id, request.match_info["job_id"])
    job, decided, reason = await request.app[JOBS].decide(
        caller.tenant_id, job.id, decision, by=f"api:{caller.name}",
        user_id=str(caller.user_id) if caller.user_id else None, actor=_actor(caller),
    )  # fmt: skip
    if not decided:
        raise Conflict(reason)
    return web.json_response(text=job_view(job, await request.app[JOBS].worker_name(job)).model_dump_json())


DECIDE_RESPONSES = {200: Response("the job after the decision", JobView), 403: FORBIDDEN, 404: NOT_FOUND,
                    409: Response("the job is not awaiting approval")}  # fmt: skip


@endpoint(
    "Approve a job awaiting approval (it is then queued)", tags=("jobs",), security=API, responses=DECIDE_RESPONSES
)
async def approve_job(request: web.Request) -> web.Response:
    return await _decide(request, Decision.APPROVED)


@endpoint(
    "Deny a job awaiting approval (it is then cancelled)", tags=("jobs",), security=API, responses=DECIDE_RESPONSES
)
async def deny_job(request: web.Request) -> web.Response:
    return await _decide(request, Decision.DENIED)


@endpoint("Agents and their tools", tags=("workers",), security=API, responses={200: Response("agents", WorkerList)})
async def list_workers(request: web.Request) -> web.Response:
    caller = await authenticate_caller(request)
    await require_reader(request, caller)
    workers = await Worker.filter(tenant_id=caller.tenant_id).order_by("name")
    rows = await connections.get("default").execute_query_dict(
        "SELECT worker_id, count(*) AS n FROM jobs WHERE tenant_id = $1 AND status IN ('queued', 'running') "
        "GROUP BY worker_id",
        [str(caller.tenant_id)],
    )
    load = {str(row["worker_id"]): int(row["n"]) for row in rows}
    views = [worker_view(worker, load.get(str(worker.id), 0)) for worker in workers]
    return web.json_response(text=WorkerList(workers=views).model_dump_json())


@endpoint(
    "Download an artifact",
    tags=("jobs",), security=API,
    responses={200: Response("the artifact's bytes", media_type="application/octet-stream"),
               404: Response("no such artifact")},
)  # fmt: skip
async def get_artifact(request: web.Request) -> web.StreamResponse:
    caller = await authenticate_caller(request)
    await require_reader(request, caller)
    artifact_id = _uuid(request.match_info["artifact_id"], "artifact")
    artifact = await Artifact.get_or_none(id=artifact_id, job__tenant_id=caller.tenant_id)
    if artifact is None:
        raise NotFound(f"artifact {artifact_id} not found")
    path = request.app[STORAGE].path(artifact.storage_key)
    disposition = f"attachment; filename*=UTF-8''{quote(artifact.name, safe='')}"
    return web.FileResponse(path, headers={"Content-Type": artifact.mime_type, "Content-Disposition": disposition})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/jobs", create_job)
    app.router.add_get("/api/v1/jobs", list_jobs)
    app.router.add_get("/api/v1/jobs/{job_id}", get_job)
    app.router.add_post("/api/v1/jobs/{job_id}/cancel", cancel_job)
    app.router.add_post("/api/v1/jobs/{job_id}/retry", retry_job)
    app.router.add_post("/api/v1/jobs/{job_id}/approve", approve_job)
    app.router.add_post("/api/v1/jobs/{job_id}/deny", deny_job)
    app.router.add_get("/api/v1/workers", list_workers)
    app.router.add_get("/api/v1/artifacts/{artifact_id}", get_artifact)
