"""Carrying out a ``/swarm`` command for any chat door: parse once, act, answer in plain text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from bot.commands import (
    CancelJob,
    Command,
    CommandError,
    Help,
    JobStatus,
    ListTools,
    ListWorkers,
    Login,
    RetryJob,
    RunTool,
    help_text,
    parse_command,
    tool_usage,
)  # fmt: skip
from bot.progress import format_duration
from hub.db.models import Job, Origin, Worker
from hub.db.models import JobStatus as State
from hub.errors import NotFound
from hub.security.roles import Permissions
from hub.services import jobs as job_service
from hub.services.jobs import JobServices
from hub.settings import Settings
from hub.sso import people
from jobs.lifecycle import NewJob

MAX_LISTED = 50


@dataclass(frozen=True)
class Requester:
    """Who typed the command, where, on behalf of which tenant."""

    tenant_id: UUID
    origin: Origin
    identity: str  # platform:team:user
    thread_ref: dict[str, Any]
    max_retries: int = 3
    idempotency_key: str | None = None  # the platform's id of this invocation: a repeat runs once
    sign_in_url: str | None = None  # the hub's public URL when SSO is configured: /swarm login links there
    permissions: Permissions | None = None  # what the person may do (None: no roles enforced, SSO off)


@dataclass(frozen=True)
class CommandOutcome:
    reply: str
    ok: bool
    job: Job | None = None
    follow: bool = False  # the command started the job: its thread is worth following
    private: bool = False  # only the person who asked may see the answer (a sign-in link)


def short_id(job: Job) -> str:
    return str(job.id)[:8]


async def _tools(services: JobServices, requester: Requester) -> str:
    catalog = await services.tool_catalog(requester.tenant_id)
    if not catalog:
        return "No tools yet: no agent has reported any. Start one with `garageswarm agent`."
    lines = [f"• {tool_usage(info)} — {info.description}".rstrip(" —") for _, info in sorted(catalog.items())]
    return "Tools:\n" + "\n".join(lines[:MAX_LISTED])


async def _workers(requester: Requester) -> str:
    workers = await Worker.filter(tenant_id=requester.tenant_id).order_by("name").limit(MAX_LISTED)
    if not workers:
        return "No agents registered. Add one with `garageswarm workers add NAME`."
    return "Agents:\n" + "\n".join(f"• {w.name}: {w.status.value}, {len(w.tools)} tools" for w in workers)


def describe(job: Job, worker: str | None, now: datetime) -> str:
    """One line on where a job is: ``Job 1b4e28ba (demo.sleep): running on gpu-1 for 12.3 s``,
    ``… succeeded in 850 ms on gpu-1``, ``… failed after 3.0 s on gpu-1 (attempt 4 of 4) — boom``."""

    def since(moment: datetime | None) -> str:
        return format_duration(((job.finished_at or now) - (moment or job.created_at)).total_seconds())

    on = f" on {worker}" if worker else ""
    match job.status:
        case State.CREATED:
            state = f"waiting for an agent with this tool ({since(None)})"
        case State.AWAITING_APPROVAL:
            state = f"waiting for approval ({since(None)})"
        case State.QUEUED:
            state = f"queued{on} ({since(job.queued_at)})"
        case State.RUNNING:
            state = f"running{on} for {since(job.started_at)}"
        case State.SUCCEEDED:
            state = f"succeeded in {since(job.started_at)}{on}"
        case _:
            state = f"{job.status.value.replace('_', ' ')} after {since(job.started_at)}{on if job.started_at else ''}"
    if job.attempt > 0:
        state += f" (attempt {job.attempt + 1} of {job.max_retries + 1})"
    line = f"Job {short_id(job)} ({job.tool}): {state}"
    if job.error:
        line += f" — {job.error}"
    return line


async def _describe(services: JobServices, job: Job) -> str:
    return describe(job, await services.worker_name(job), datetime.now(UTC))


def _refusal(requester: Requester, tool: str) -> CommandOutcome | None:
    """Why the requester may not run (or cancel) ``tool``, when roles are enforced and they may not."""
    if requester.permissions is None or requester.permissions.may_run(tool):
        return None
    hint = "" if requester.permissions.roles else " Link your account first with /swarm login."
    return CommandOutcome(
        f"You may not run {tool}: it needs the operator role with a pattern matching it.{hint}", False
    )


async def _run(services: JobServices, requester: Requester, command: RunTool) -> CommandOutcome:
    if (refused := _refusal(requester, command.qualified_name)) is not None:
        return refused
    new = NewJob(
        tenant_id=requester.tenant_id, origin=requester.origin, tool=command.qualified_name,
        arguments=command.arguments, requester=requester.identity, thread_ref=requester.thread_ref,
        max_retries=requester.max_retries, idempotency_key=requester.idempotency_key,
    )  # fmt: skip
    job, _ = await services.submit(new)
    waiting = "" if job.worker_id else " (waiting for an agent with this tool)"  # type: ignore[attr-defined]
    return CommandOutcome(f"Queued {job.tool} as job {short_id(job)}{waiting}", True, job, follow=True)


async def _cancel(services: JobServices, requester: Requester, job: Job) -> CommandOutcome:
    """Cancel, and say what happened: cancelled now, asked of the agent running it, or too late."""
    if job.status.finished:
        already = job.status is State.CANCELLED
        return CommandOutcome(f"{await _describe(services, job)} (already finished: nothing to cancel)", already, job)
    job = await services.cancel(requester.tenant_id, job.id, by=requester.identity)
    if job.status is State.CANCELLED:
        return CommandOutcome(f"Cancelled job {short_id(job)} ({job.tool})", True, job)
    if job.status.finished:  # it finished in between
        answer = f"{await _describe(services, job)} (finished before the cancellation: nothing to cancel)"
        return CommandOutcome(answer, False, job)
    return CommandOutcome(
        f"Cancelling job {short_id(job)} ({job.tool}): its agent was asked to stop the call", True, job
    )


async def _retry(services: JobServices, requester: Requester, job: Job) -> CommandOutcome:
    job, retried, reason = await services.retry(requester.tenant_id, job.id, by=requester.identity)
    if not retried:
        return CommandOutcome(f"{await _describe(services, job)} ({reason})", False, job)
    waiting = ""
    if job.status is State.AWAITING_APPROVAL:
        waiting = " (waiting for approval again)"
    elif job.worker_id is None:  # type: ignore[attr-defined]
        waiting = " (waiting for an agent with this tool)"
    return CommandOutcome(f"Retrying job {short_id(job)} ({job.tool}): attempt {job.attempt + 1}{waiting}", True, job,
                          follow=True)  # fmt: skip


async def _login(requester: Requester) -> CommandOutcome:
    """A one-time, short-lived link binding this chat identity to whoever signs in through it."""
    if requester.sign_in_url is None:
        return CommandOutcome("Sign-in is not configured on this hub yet.", False)
    code = await people.issue_link_code(requester.tenant_id, requester.identity)
    url = f"{requester.sign_in_url.rstrip('/')}/auth/link/{code}"
    minutes = int(people.LINK_TTL_S // 60)
    return CommandOutcome(
        f"Sign in to link this account (works once, for {minutes} minutes): {url}", True, private=True
    )


async def execute(services: JobServices, requester: Requester, command: Command) -> CommandOutcome:
    """Carry out a parsed command; CommandError and NotFound become a clear reply."""
    try:
        match command:
            case Help(topic=topic):
                return CommandOutcome(help_text(topic), True)
            case ListTools():
                return CommandOutcome(await _tools(services, requester), True)
            case ListWorkers():
                return CommandOutcome(await _workers(requester), True)
            case RunTool():
                return await _run(services, requester, command)
            case JobStatus(job_ref=ref):
                job = await job_service.find_job(requester.tenant_id, ref)
                return CommandOutcome(await _describe(services, job), True, job)
            case CancelJob(job_ref=ref) | RetryJob(job_ref=ref):  # whoever may run the tool
                job = await job_service.find_job(requester.tenant_id, ref)
                if (refused := _refusal(requester, job.tool)) is not None:
                    return refused
                act = _cancel if isinstance(command, CancelJob) else _retry
                return await act(services, requester, job)
            case Login():
                return await _login(requester)
    except CommandError as error:
        return CommandOutcome(f"{error.message}\nUsage: /swarm {error.usage}", False)
    except NotFound as error:
        return CommandOutcome(error.message, False)
    return CommandOutcome("Unknown command. Try /swarm help", False)


async def handle_text(services: JobServices, requester: Requester, text: str) -> CommandOutcome:
    """Parse and carry out the text of a ``/swarm`` command."""
    try:
        command = parse_command(text)
    except CommandError as error:
        return CommandOutcome(f"{error.message}\nUsage: /swarm {error.usage}", False)
    return await execute(services, requester, command)


async def chat_permissions(identity: str, settings: Settings) -> Permissions | None:
    """With SSO on, a chat user may do what the person linked to their chat account may (nothing when
    unlinked); with SSO off no roles are enforced in chat."""
    if not settings.oidc_issuer:
        return None
    return await people.linked_permissions(people.chat_ref(identity), settings)
