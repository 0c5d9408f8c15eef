"""One key is one agent: which process holds an agent's key (its session), and when another may take it.

An agent process names itself when it registers (a random session id, its host and pid). While that
process is live, another one presenting the same key (a copy of the configuration on a second machine,
a typo'd service started twice) is refused with a message naming where the first one runs, and it can
never erase the first one's registration. A process stops being live when its heart-beat connection
closes (it was stopped or killed: the kernel closes its sockets) or when it has been silent for the
heart-beat timeout (power loss, partition); then a new process may take the key, and what the old one
had started is re-queued. This is what lets an agent release, at start-up, every claim on its own queue
that a crashed predecessor left behind: nobody else consumes that queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from hub.db.models import Worker, WorkerStatus
from hub.errors import Conflict


def is_live(worker: Worker, now: datetime, timeout_s: float) -> bool:
    """Whether the process holding the key is still there: heard from within the timeout, and its
    heart-beat connection not closed since."""
    heard = worker.last_heartbeat_at
    if worker.session_id is None or worker.status is not WorkerStatus.ONLINE or heard is None:
        return False
    if now - heard > timedelta(seconds=timeout_s):
        return False
    return worker.session_closed_at is None or worker.session_closed_at < heard


def where(worker: Worker) -> str:
    host, pid = worker.session.get("host") or "an unknown host", worker.session.get("pid")
    return f"on {host}" + (f" (pid {pid})" if pid else "")


def conflict_message(worker: Worker, now: datetime, timeout_s: float) -> str:
    heard = worker.last_heartbeat_at
    age = f", heard from {(now - heard).total_seconds():.1f} s ago" if heard is not None else ""
    return (
        f"agent {worker.name!r} is already running {where(worker)}{age}: one key is one agent. Stop that process "
        f"(a silent one counts as gone after {timeout_s:g} s), or give this one a key of its own with "
        "`garageswarm workers add NAME`"
    )


def replaced_message(worker: Worker) -> str:
    return f"agent {worker.name!r} was taken over by another process {where(worker)}: this one stops"


@dataclass(frozen=True)
class Session:
    """The agent process presenting the key."""

    id: str
    host: str
    pid: int


async def take(worker_id: object, session: Session, now: datetime, timeout_s: float) -> tuple[Worker, bool]:
    """Give the key to ``session`` unless another live process holds it (:class:`Conflict`); (the worker,
    whether this is a new process: what the previous one had started must then be re-queued)."""
    async with in_transaction() as connection:
        worker = await Worker.filter(id=worker_id).select_for_update().using_db(connection).get()
        if worker.session_id not in (None, session.id) and is_live(worker, now, timeout_s):
            raise Conflict(conflict_message(worker, now, timeout_s))
        new_process = worker.session_id != session.id
        if new_process:
            worker.session_id, worker.session_closed_at = session.id, None
            worker.session = {"host": session.host, "pid": session.pid, "since": now.isoformat()}
            await worker.save(using_db=connection, update_fields=["session_id", "session", "session_closed_at"])
    return worker, new_process


def check_current(worker: Worker, session_id: str | None) -> None:
    """A heart-beat of a process that no longer holds the key is refused (:class:`Conflict`): it stops."""
    if session_id is not None and worker.session_id is not None and session_id != worker.session_id:
        raise Conflict(replaced_message(worker))


async def closed(worker_id: object, session_id: str | None, now: datetime) -> None:
    """The session's heart-beat connection closed: unless it heart-beats again, the key is free."""
    if session_id is not None:
        await Worker.filter(id=worker_id, session_id=session_id).update(session_closed_at=now)
