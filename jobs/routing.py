"""Choosing the agent for a job: online, has the tool, least loaded first."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

# One query: online agents of the tenant whose reported tools contain the tool (JSONB containment),
# with their current load.
CANDIDATES_SQL = """
SELECT w.id, w.name, w.max_concurrency,
       (SELECT count(*) FROM jobs j WHERE j.worker_id = w.id AND j.status IN ('queued', 'running')) AS load
FROM workers w
WHERE w.tenant_id = $1 AND w.status = 'online' AND w.tools @> $2::jsonb
"""


@dataclass(frozen=True)
class Route:
    worker_id: UUID
    worker_name: str


async def pick_worker(
    connection: BaseDBAsyncClient, tenant_id: UUID, tool: str, *, avoid: Collection[UUID] = ()
) -> Route | None:
    """The least loaded online agent that reported ``tool``; agents in ``avoid`` only as a last resort."""
    rows = await connection.execute_query_dict(CANDIDATES_SQL, [str(tenant_id), json.dumps([{"name": tool}])])
    if not rows:
        return None

    def rank(row: dict[str, object]) -> tuple[bool, float, str]:
        worker_id = UUID(str(row["id"]))
        load = int(str(row["load"])) / max(1, int(str(row["max_concurrency"])))
        return (worker_id in avoid, load, str(worker_id))

    best = min(rows, key=rank)
    return Route(worker_id=UUID(str(best["id"])), worker_name=str(best["name"]))
