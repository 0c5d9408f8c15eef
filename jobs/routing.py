"""Choosing the agent for a job: online, has the tool, least loaded first."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

# One query: online agents of the tenant whose reported tools contain the tool (JSONB containment),
# with their current load. The load is counted only when there is a choice to make (CASE evaluates its
# branch only when taken): the count visits every version of recently finished jobs until vacuum
# removes them, which made it the costliest part of creating a job, and a lone candidate (the common
# case) does not need it.
CANDIDATES_SQL = """
SELECT w.id, w.name, w.max_concurrency,
       CASE WHEN count(*) OVER () > 1
            THEN (SELECT count(*) FROM jobs j WHERE j.worker_id = w.id AND j.status IN ('queued', 'running'))
            ELSE 0 END AS load
FROM workers w
WHERE w.tenant_id = $1 AND w.status = 'online' AND w.tools @> $2::jsonb
"""


@dataclass(frozen=True)
class Route:
    worker_id: UUID
    worker_name: str


@dataclass
class Candidate:
    """An agent that can take the job, with its load (counted up as jobs are routed to it in a batch)."""

    route: Route
    load: int
    capacity: int


def pick(candidates: Sequence[Candidate], avoid: Collection[UUID] = ()) -> Candidate | None:
    """The least loaded candidate, ties by id; agents in ``avoid`` only as a last resort."""

    def rank(c: Candidate) -> tuple[bool, float, str]:
        return (c.route.worker_id in avoid, c.load / max(1, c.capacity), str(c.route.worker_id))

    return min(candidates, key=rank, default=None)


async def candidates(connection: BaseDBAsyncClient, tenant_id: UUID, tool: str) -> list[Candidate]:
    """The online agents of the tenant that reported ``tool``, with their load (one query)."""
    rows = await connection.execute_query_dict(CANDIDATES_SQL, [str(tenant_id), json.dumps([{"name": tool}])])
    return [
        Candidate(Route(UUID(str(r["id"])), str(r["name"])), int(str(r["load"])), int(str(r["max_concurrency"])))
        for r in rows
    ]


async def pick_worker(
    connection: BaseDBAsyncClient, tenant_id: UUID, tool: str, *, avoid: Collection[UUID] = ()
) -> Route | None:
    """The least loaded online agent that reported ``tool``; agents in ``avoid`` only as a last resort."""
    best = pick(await candidates(connection, tenant_id, tool), avoid)
    return best.route if best is not None else None
