"""GET /api/v1/jobs pages through every job of the tenant, newest first, none skipped or repeated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from hub.db.models import Job, JobStatus, Origin
from hub.services import admin

Client = TestClient[Any, Any]


async def _page(client: Client, token: str, query: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(f"/api/v1/jobs?{query}", headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.json()


async def _job(tenant_id: object, status: JobStatus) -> Job:
    return await Job.create(tenant_id=tenant_id, origin=Origin.API, requester="api:t", tool="demo.echo", status=status)


async def test_pages_follow_each_other_through_every_job(hub_client: Client, agent_keys: dict[str, str]) -> None:
    tenant = await admin.ensure_tenant()
    same_moment = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # ties on created_at must still page exactly
    created = [await _job(tenant.id, JobStatus.SUCCEEDED if i % 2 else JobStatus.FAILED) for i in range(7)]
    await Job.filter(id__in=[job.id for job in created[2:5]]).update(created_at=same_moment)

    seen, cursor, pages = [], "", 0
    while True:
        status, body = await _page(hub_client, agent_keys["token"], f"limit=3{cursor}")
        assert status == 200, body
        seen += [job["id"] for job in body["jobs"]]
        pages += 1
        if body["next"] is None:
            break
        assert body["next"] == body["jobs"][-1]["id"]
        cursor = f"&before={body['next']}"

    assert pages == 3 and len(seen) == 7 and set(seen) == {str(job.id) for job in created}
    newest_first = sorted(await Job.all(), key=lambda job: (job.created_at, str(job.id)), reverse=True)
    assert seen == [str(job.id) for job in newest_first]


async def test_a_filtered_page_and_a_bad_cursor(hub_client: Client, agent_keys: dict[str, str]) -> None:
    tenant = await admin.ensure_tenant()
    jobs = [await _job(tenant.id, status) for status in (JobStatus.FAILED, JobStatus.SUCCEEDED, JobStatus.FAILED)]

    status, body = await _page(hub_client, agent_keys["token"], "status=failed&limit=1")
    assert status == 200 and [j["id"] for j in body["jobs"]] == [str(jobs[2].id)] and body["next"] == str(jobs[2].id)
    status, body = await _page(hub_client, agent_keys["token"], f"status=failed&before={body['next']}")
    assert status == 200 and [j["id"] for j in body["jobs"]] == [str(jobs[0].id)] and body["next"] is None

    for cursor, message in (("nope", "before must be a job id"), ("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "no job")):
        status, body = await _page(hub_client, agent_keys["token"], f"before={cursor}")
        assert status == 400 and message in body["error"]["message"]
