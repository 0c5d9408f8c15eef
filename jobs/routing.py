"""Choosing the agent for a job: online, has the tool, least loaded first."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from hub.db.models import Worker, WorkerStatus

ACTIVE = ("queued", "running")


def has_tool(worker: Worker, tool: str) -> bool:
    return any(entry.get("name") == tool for entry in worker.tools)


async def pick_worker(
    connection: BaseDBAsyncClient, tenant_id: UUID, tool: str, *, avoid: Collection[UUID] = ()
) -> Worker | None:
    """The least loaded online agent that reported ``tool``; agents in ``avoid`` only as a last resort."""
    candidates = [
        worker
        for worker in await Worker.filter(tenant_id=tenant_id, status=WorkerStatus.ONLINE).using_db(connection)
        if has_tool(worker, tool)
    ]
    if not candidates:
        return None
    rows = await connection.execute_query_dict(
        "SELECT worker_id, count(*) AS n FROM jobs WHERE status IN ('queued', 'running') "
        "AND worker_id = ANY($1::uuid[]) GROUP BY worker_id",
        [[str(w.id) for w in candidates]],
    )
    load = {UUID(str(row["worker_id"])): int(row["n"]) for row in rows}

    def rank(worker: Worker) -> tuple[bool, float, str]:
        return (worker.id in avoid, load.get(worker.id, 0) / max(1, worker.max_concurrency), str(worker.id))

    return min(candidates, key=rank)
