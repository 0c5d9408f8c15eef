"""Run reports in batches: the hub answers each item on its own, the agent coalesces what is ready together."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tortoise import connections

from hub.db.models import EventKind, Job, JobEvent, Worker
from hub.services import admin
from jobs import fastpath
from jobs.agent.batch import ReportBatcher
from jobs.agent.errors import HubError, HubUnreachable

Client = TestClient[Any, Any]
TOOLS = {"tools": [{"name": "demo.echo", "description": "Echo", "input_schema": {"type": "object",
         "properties": {"text": {"type": "string"}}, "required": ["text"]}}]}  # fmt: skip


@pytest.fixture
async def client(hub_client: Client, agent_keys: dict[str, str]) -> Client:
    """The hub with agent garage-1 registered."""
    agent = {"Authorization": f"Bearer {agent_keys['worker']}"}
    assert (await hub_client.post("/api/v1/agent/register", json=TOOLS, headers=agent)).status == 200
    return hub_client


async def _jobs(client: Client, agent_keys: dict[str, str], count: int) -> list[str]:
    ids = []
    for index in range(count):
        created = await client.post("/api/v1/jobs", json={"tool": "demo.echo", "arguments": {"text": str(index)}},
                                    headers={"Authorization": f"Bearer {agent_keys['token']}"})  # fmt: skip
        ids.append((await created.json())["id"])
    return ids


async def _batch(client: Client, agent_keys: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/agent/reports", json=body, headers={"Authorization": f"Bearer {agent_keys['worker']}"}
    )
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def _kinds(job_id: str) -> list[str]:
    return [event.kind.value for event in await JobEvent.filter(job_id=job_id).order_by("seq")]


async def test_a_batch_answers_each_run_on_its_own_and_a_repeat_counts_once(
    client: Client, agent_keys: dict[str, str]
) -> None:
    first, second, third = await _jobs(client, agent_keys, 3)
    unknown = str(uuid.uuid4())
    started = await _batch(client, agent_keys, {"starts": [
        {"job_id": first, "attempt": 0}, {"job_id": second, "attempt": 1}, {"job_id": third, "attempt": 0},
        {"job_id": unknown, "attempt": 0},
    ]})  # fmt: skip
    assert [(a["run"], a["reason"], a["error"]) for a in started["starts"]] == [
        (True, "started", None), (False, "stale attempt: the job was re-queued", None), (True, "started", None),
        (False, "no such job", "no such job"),
    ]  # fmt: skip
    reports = {
        "events": [{"job_id": first, "attempt": 0, "events": [{"kind": "progress", "data": {"progress": 1}}]}],
        "results": [
            {"job_id": first, "attempt": 0, "outcome": "succeeded", "outputs": [{"type": "text", "text": "0"}]},
            {"job_id": third, "attempt": 0, "outcome": "tool_error", "error": "no"},
            {"job_id": unknown, "attempt": 0, "outcome": "succeeded"},
        ],
    }
    done = await _batch(client, agent_keys, reports)
    assert done["events"] == [{"job_id": first, "ok": True, "detail": None, "error": None}]
    assert [(a["status"], a["duplicate"], a["error"]) for a in done["results"]] == [
        ("succeeded", False, None), ("failed", False, None), (None, False, "no such job"),
    ]  # fmt: skip
    again = await _batch(client, agent_keys, reports)
    assert [(a["status"], a["duplicate"]) for a in again["results"][:2]] == [("succeeded", True), ("failed", True)]
    assert again["events"][0]["ok"] is False and again["events"][0]["detail"] == "stale attempt"
    assert await _kinds(first) == ["created", "queued", "started", "progress", "succeeded"]
    assert await _kinds(third) == ["created", "queued", "started", "failed"]
    job = await Job.get(id=first)
    assert job.result == {"outputs": [{"type": "text", "text": "0"}], "structured": None}
    assert (await Job.get(id=second)).status.value == "queued"


async def test_a_success_after_a_cancellation_request_is_recorded_as_cancelled(
    client: Client, agent_keys: dict[str, str]
) -> None:
    [job_id] = await _jobs(client, agent_keys, 1)
    await _batch(client, agent_keys, {"starts": [{"job_id": job_id, "attempt": 0}]})
    cancel = await client.post(
        f"/api/v1/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {agent_keys['token']}"}
    )
    assert cancel.status == 200
    done = await _batch(client, agent_keys, {"results": [{"job_id": job_id, "attempt": 0, "outcome": "succeeded"}]})
    assert done["results"][0]["status"] == "succeeded", "the run finished: its result still counts"
    assert (await _kinds(job_id))[-2:] == ["cancel_requested", "succeeded"]


async def test_events_of_several_runs_are_appended_in_order_and_stale_or_unknown_runs_are_answered(
    client: Client, agent_keys: dict[str, str]
) -> None:
    first, second, finished = await _jobs(client, agent_keys, 3)
    await _batch(client, agent_keys, {"starts": [{"job_id": j, "attempt": 0} for j in (first, second, finished)]})
    await _batch(client, agent_keys, {"results": [{"job_id": finished, "attempt": 0, "outcome": "succeeded"}]})
    progress = [{"kind": "progress", "data": {"progress": n}} for n in (1, 2, 3)]
    answer = await _batch(client, agent_keys, {"events": [
        {"job_id": first, "attempt": 0, "events": progress},
        {"job_id": second, "attempt": 0, "events": [{"kind": "log", "data": {"message": "hi"}}, *progress[:1]]},
        {"job_id": finished, "attempt": 0, "events": progress[:1]},
        {"job_id": second, "attempt": 1, "events": progress[:1]},
        {"job_id": str(uuid.uuid4()), "attempt": 0, "events": progress[:1]},
    ]})  # fmt: skip
    assert [(a["ok"], a["detail"]) for a in answer["events"]] == [
        (True, None),
        (True, None),
        (False, "stale attempt"),
        (False, "stale attempt"),
        (False, "no such job"),
    ]
    events = await JobEvent.filter(job_id=first).order_by("seq")
    assert [(e.seq, e.kind.value, e.data) for e in events][-3:] == [
        (4, "progress", {"progress": 1}), (5, "progress", {"progress": 2}), (6, "progress", {"progress": 3}),
    ]  # fmt: skip
    assert await _kinds(second) == ["created", "queued", "started", "log", "progress"]
    assert (await Job.get(id=first)).next_seq == 7, "the next event follows on"
    assert await _kinds(finished) == ["created", "queued", "started", "succeeded"]


async def test_one_run_twice_in_a_batch_keeps_its_events_in_order(client: Client, agent_keys: dict[str, str]) -> None:
    [job_id] = await _jobs(client, agent_keys, 1)
    await _batch(client, agent_keys, {"starts": [{"job_id": job_id, "attempt": 0}]})
    answer = await _batch(client, agent_keys, {"events": [
        {"job_id": job_id, "attempt": 0, "events": [{"kind": "progress", "data": {"progress": n}}]} for n in (1, 2)
    ]})  # fmt: skip
    assert [a["ok"] for a in answer["events"]] == [True, True]
    events = await JobEvent.filter(job_id=job_id, kind="progress").order_by("seq")
    assert [e.data["progress"] for e in events] == [1, 2]


async def test_the_one_statement_path_appends_to_current_runs_only(client: Client, agent_keys: dict[str, str]) -> None:
    current, finished = await _jobs(client, agent_keys, 2)
    await _batch(client, agent_keys, {"starts": [{"job_id": j, "attempt": 0} for j in (current, finished)]})
    await _batch(client, agent_keys, {"results": [{"job_id": finished, "attempt": 0, "outcome": "succeeded"}]})
    tenant = await admin.ensure_tenant()
    progress = [(EventKind.PROGRESS, {"progress": 1}), (EventKind.LOG, {"message": "m"})]
    runs = [(fastpath.Run(uuid.UUID(j), 0), progress) for j in (current, finished)]
    worker = await Worker.get(name="garage-1")
    effects = await fastpath.append_events(connections.get("default"), runs, tenant.id, worker.id)
    assert [(str(e.job_id), e.seq, e.kind) for e in effects.events] == [  # type: ignore[attr-defined]
        (current, 4, EventKind.PROGRESS),
        (current, 5, EventKind.LOG),
    ]


async def test_a_result_marked_start_starts_its_run_and_counts_only_when_the_start_is_granted(
    client: Client, agent_keys: dict[str, str]
) -> None:
    quick, stale, cancelled, failing = await _jobs(client, agent_keys, 4)
    cancel = await client.post(
        f"/api/v1/jobs/{cancelled}/cancel", headers={"Authorization": f"Bearer {agent_keys['token']}"}
    )
    assert cancel.status == 200
    text = [{"type": "text", "text": "done"}]
    done = await _batch(client, agent_keys, {"results": [
        {"job_id": quick, "attempt": 0, "outcome": "succeeded", "outputs": text, "start": True},
        {"job_id": stale, "attempt": 1, "outcome": "succeeded", "outputs": text, "start": True},
        {"job_id": cancelled, "attempt": 0, "outcome": "succeeded", "outputs": text, "start": True},
        {"job_id": str(uuid.uuid4()), "attempt": 0, "outcome": "succeeded", "start": True},
        {"job_id": failing, "attempt": 0, "outcome": "tool_error", "error": "bad input", "start": True},
    ]})  # fmt: skip
    assert [(a["started"], a["reason"], a["status"], a["error"]) for a in done["results"]] == [
        (True, "started", "succeeded", None),
        (False, "stale attempt: the job was re-queued", None, None),
        (False, "job already cancelled", None, None),
        (False, "no such job", None, "no such job"),
        (True, "started", "failed", None),
    ]
    assert await _kinds(failing) == ["created", "queued", "started", "failed"]
    assert done["starts"] == [], "the implicit starts are answered with their results"
    assert await _kinds(quick) == ["created", "queued", "started", "succeeded"]
    assert (await Job.get(id=quick)).result == {"outputs": text, "structured": None}
    assert await _kinds(stale) == ["created", "queued"], "a refused start records nothing"
    assert (await Job.get(id=stale)).status.value == "queued"
    assert (await Job.get(id=cancelled)).status.value == "cancelled"
    again = await _batch(client, agent_keys, {"results": [
        {"job_id": quick, "attempt": 0, "outcome": "succeeded", "outputs": text, "start": True},
    ]})  # fmt: skip
    assert (again["results"][0]["started"], again["results"][0]["reason"]) == (False, "job already succeeded")
    assert await _kinds(quick) == ["created", "queued", "started", "succeeded"], "a repeat counts once"


async def test_start_and_succeed_moves_only_queued_current_runs_of_the_agent_in_one_statement(
    client: Client, agent_keys: dict[str, str]
) -> None:
    quick, running, stale, elsewhere = await _jobs(client, agent_keys, 4)
    await _batch(client, agent_keys, {"starts": [{"job_id": running, "attempt": 0}]})
    tenant = await admin.ensure_tenant()
    worker_id = (await Job.get(id=quick)).worker_id  # type: ignore[attr-defined]
    result = {"outputs": [{"type": "text", "text": "t"}], "structured": None}
    runs = [(fastpath.Run(uuid.UUID(quick), 0), result), (fastpath.Run(uuid.UUID(running), 0), result),
            (fastpath.Run(uuid.UUID(stale), 1), result)]  # fmt: skip
    effects = await fastpath.start_and_succeed(connections.get("default"), runs, tenant.id, worker_id, "garage-1")
    other = await fastpath.start_and_succeed(
        connections.get("default"), [(fastpath.Run(uuid.UUID(elsewhere), 0), result)], tenant.id, uuid.uuid4(), "x"
    )
    assert other.events == [], "only the agent the job is routed to"
    assert [(str(e.job_id), e.seq, e.kind, e.data) for e in effects.events] == [  # type: ignore[attr-defined]
        (quick, 3, EventKind.STARTED, {"worker": "garage-1"}), (quick, 4, EventKind.SUCCEEDED, {"outputs": 1}),
    ]  # fmt: skip
    job = await Job.get(id=quick)
    assert (job.status.value, job.result, job.next_seq) == ("succeeded", result, 5)
    assert job.started_at is not None and job.finished_at is not None
    assert [(await Job.get(id=j)).status.value for j in (running, stale, elsewhere)] == ["running", "queued", "queued"]


class FakeHub:
    """Records the bodies sent; each request waits until the test lets it through."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def send(self, body: bytes) -> dict[str, Any]:
        parsed = json.loads(body)
        self.bodies.append(parsed)
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return {
            "starts": [{"job_id": s["job_id"], "run": True, "reason": "started"} for s in parsed["starts"]],
            "events": [{"job_id": e["job_id"], "ok": True} for e in parsed["events"]],
            "results": [{"job_id": r["job_id"], "error": "no such job" if r["job_id"] == "gone" else None,
                         "status": "succeeded", "duplicate": False} for r in parsed["results"]],
        }  # fmt: skip


async def test_reports_ready_while_a_request_is_in_flight_leave_together() -> None:
    hub = FakeHub()
    batcher = ReportBatcher(hub.send, max_in_flight=1)
    first = asyncio.create_task(batcher.submit("starts", {"job_id": "a", "attempt": 0}))
    await asyncio.sleep(0.01)
    later = [
        asyncio.create_task(batcher.submit("results", {"job_id": "b", "attempt": 0, "outcome": "succeeded"})),
        asyncio.create_task(batcher.submit("starts", {"job_id": "c", "attempt": 2})),
        asyncio.create_task(batcher.submit("events", {"job_id": "d", "attempt": 0, "events": []})),
    ]
    await asyncio.sleep(0.01)
    assert len(hub.bodies) == 1, "the first report went alone, at once"
    hub.gate.set()
    answers = await asyncio.gather(first, *later)
    assert [a["job_id"] for a in answers] == ["a", "b", "c", "d"]
    assert hub.bodies[1] == {
        "starts": [{"job_id": "c", "attempt": 2}],
        "events": [{"job_id": "d", "attempt": 0, "events": []}],
        "results": [{"job_id": "b", "attempt": 0, "outcome": "succeeded"}],
    }


async def test_a_failed_request_fails_each_report_and_a_refused_item_only_itself() -> None:
    hub = FakeHub()
    hub.gate.set()
    batcher = ReportBatcher(hub.send)
    with pytest.raises(HubError) as refused:
        await batcher.submit("results", {"job_id": "gone", "attempt": 0, "outcome": "succeeded"})
    assert refused.value.status == 404
    hub.fail = HubUnreachable("connection refused")
    outcomes = await asyncio.gather(
        batcher.submit("starts", {"job_id": "a", "attempt": 0}),
        batcher.submit("results", {"job_id": "b", "attempt": 0, "outcome": "succeeded"}),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, HubUnreachable) for outcome in outcomes)
    assert outcomes[0] is not outcomes[1], "each caller raises its own exception"
    hub.fail = HubError(401, "bad key")
    with pytest.raises(HubError):
        await batcher.submit("starts", {"job_id": "a", "attempt": 0})


async def test_a_request_refused_as_a_whole_is_retried_item_by_item_so_one_bad_item_fails_alone() -> None:
    class Strict(FakeHub):
        """Refuses a whole request (422) when any item in it is malformed, as the hub's schema does."""

        async def send(self, body: bytes) -> dict[str, Any]:
            if any(item.get("attempt") == -1 for kind in ("starts", "results") for item in json.loads(body)[kind]):
                self.bodies.append(json.loads(body))
                raise HubError(422, "invalid request body")
            return await super().send(body)

    hub = Strict()
    batcher = ReportBatcher(hub.send, max_in_flight=1)
    blocker = asyncio.create_task(batcher.submit("starts", {"job_id": "first", "attempt": 0}))
    await asyncio.sleep(0.01)
    items = [{"job_id": job, "attempt": attempt, "outcome": "succeeded"}
             for job, attempt in (("good-1", 0), ("bad", -1), ("good-2", 0))]  # fmt: skip
    together = [asyncio.create_task(batcher.submit("results", item)) for item in items]
    await asyncio.sleep(0.01)
    hub.gate.set()
    await blocker
    outcomes = await asyncio.gather(*together, return_exceptions=True)

    assert [o["job_id"] for o in (outcomes[0], outcomes[2])] == ["good-1", "good-2"]  # type: ignore[index]
    assert isinstance(outcomes[1], HubError) and outcomes[1].status == 422
    assert [len(body["results"]) for body in hub.bodies[1:]] == [3, 1, 1, 1], "the three together, then each alone"


async def test_a_stale_attempt_beside_the_current_one_in_a_batch_is_refused(
    client: Client, agent_keys: dict[str, str]
) -> None:
    """A restarted agent may ask for the run its dead predecessor had claimed together with the job's new
    attempt: only the current attempt runs (an answer keyed by job alone once ran the stale one too)."""
    [job_id] = await _jobs(client, agent_keys, 1)
    await _batch(client, agent_keys, {"starts": [{"job_id": job_id, "attempt": 0}]})
    failed = {"job_id": job_id, "attempt": 0, "outcome": "failed", "retryable": True, "error": "server gone"}
    await _batch(client, agent_keys, {"results": [failed]})
    assert (await Job.get(id=job_id)).attempt == 1
    answer = await _batch(client, agent_keys, {"starts": [{"job_id": job_id, "attempt": a} for a in (0, 1)]})
    assert [(s["run"], s["reason"]) for s in answer["starts"]] == [
        (False, "stale attempt: the job was re-queued"),
        (True, "started"),
    ]
    both = [{"job_id": job_id, "attempt": a, "outcome": "succeeded", "outputs": []} for a in (0, 1)]
    done = await _batch(client, agent_keys, {"results": both})
    assert [(r["status"], r["duplicate"]) for r in done["results"]] == [("succeeded", True), ("succeeded", False)]
    assert await JobEvent.filter(job_id=job_id, kind="succeeded").count() == 1
