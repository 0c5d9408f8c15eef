"""The agent's spool: a result the hub cannot take now is kept on disk (blobs included) and delivered,
in order, once it can; nothing is lost across an agent restart, and a poisoned entry does not block the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from jobs.agent.hub_client import HubClient, HubError, HubUnreachable
from jobs.agent.spool import Blob, Report, Spool


class FakeHub:
    """The two calls a report makes; ``down`` makes every call fail as an unreachable hub does."""

    def __init__(self) -> None:
        self.down = False
        self.refuse: set[str] = set()  # job ids whose result the hub refuses (4xx)
        self.refuse_status = 409
        self.uploads: list[tuple[str, int, str, bytes]] = []
        self.results: list[tuple[str, dict[str, Any]]] = []

    async def upload(self, job_id: str, attempt: int, name: str, mime_type: str, data: bytes) -> dict[str, Any]:
        if self.down:
            raise HubUnreachable("connection refused")
        self.uploads.append((job_id, attempt, name, data))
        return {"id": f"artifact-{len(self.uploads)}"}

    async def result(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.down:
            raise HubUnreachable("connection refused")
        if job_id in self.refuse and body.get("outcome") == "succeeded":
            raise HubError(self.refuse_status, "refused")
        self.results.append((job_id, body))
        return {"ok": True}


def _report(job_id: str, *, with_blob: bool = False) -> Report:
    outputs: list[dict[str, Any]] = [{"type": "text", "text": f"from {job_id}"}]
    blobs = []
    if with_blob:
        outputs.append({"type": "blob", "index": 0})
        blobs.append(Blob("image-1.png", "image/png", "image", b"\x89PNG" + bytes(range(256))))
    return Report(job_id, 0, {"attempt": 0, "outcome": "succeeded", "outputs": outputs}, blobs)


def _spool(directory: Path, hub: FakeHub) -> Spool:
    return Spool(directory, cast(HubClient, hub))


async def test_a_result_the_hub_cannot_take_waits_on_disk_and_survives_a_restart(tmp_path: Path) -> None:
    hub = FakeHub()
    hub.down = True
    spool = _spool(tmp_path / "spool", hub)

    await spool.deliver(_report("job-1", with_blob=True))
    await spool.deliver(_report("job-2"))

    assert len(spool.pending()) == 2 and spool.wake.is_set()
    assert not await spool.flush(), "still down: nothing sent, nothing dropped"
    assert len(spool.pending()) == 2

    hub.down = False
    restarted = _spool(tmp_path / "spool", hub)  # the agent was restarted in between
    assert await restarted.flush()

    assert [job_id for job_id, _ in hub.results] == ["job-1", "job-2"], "in the order they ended"
    assert hub.uploads == [("job-1", 0, "image-1.png", b"\x89PNG" + bytes(range(256)))]
    artifact = hub.results[0][1]["outputs"][1]
    assert artifact == {"type": "artifact", "artifact_id": "artifact-1", "name": "image-1.png",
                        "mime_type": "image/png", "kind": "image", "size_bytes": 260}  # fmt: skip
    assert restarted.pending() == []


async def test_a_refused_or_unreadable_entry_is_dropped_and_the_rest_delivered(tmp_path: Path) -> None:
    hub = FakeHub()
    hub.down = True
    spool = _spool(tmp_path / "spool", hub)
    for job_id in ("job-1", "job-2", "job-3"):
        await spool.deliver(_report(job_id))
    first, second, _ = spool.pending()
    (second / "report.json").write_text("{not json")
    hub.down, hub.refuse = False, {"job-1"}

    assert await spool.flush()

    assert [job_id for job_id, _ in hub.results] == ["job-3"]
    assert spool.pending() == [] and not first.exists()


async def test_a_result_sent_at_once_never_touches_the_disk(tmp_path: Path) -> None:
    hub = FakeHub()
    spool = _spool(tmp_path / "spool", hub)

    await spool.deliver(_report("job-1", with_blob=True))

    assert [job_id for job_id, _ in hub.results] == ["job-1"]
    assert list((tmp_path / "spool").iterdir()) == [] and not spool.wake.is_set()


async def test_a_result_the_hub_refuses_for_good_ends_the_run_failed_with_the_reason(tmp_path: Path) -> None:
    hub = FakeHub()
    hub.refuse, hub.refuse_status = {"job-1"}, 413
    spool = _spool(tmp_path / "spool", hub)

    await spool.deliver(_report("job-1"))

    [(job_id, body)] = hub.results
    assert (job_id, body["outcome"], body["retryable"]) == ("job-1", "failed", False)
    assert body["error"] == "the hub refused this run's result (hub answered 413: refused)"


async def test_a_result_for_a_job_the_hub_does_not_know_is_dropped(tmp_path: Path) -> None:
    hub = FakeHub()
    hub.refuse, hub.refuse_status = {"job-1"}, 404
    spool = _spool(tmp_path / "spool", hub)

    await spool.deliver(_report("job-1"))

    assert hub.results == [] and spool.pending() == []
