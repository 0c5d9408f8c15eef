"""Hot paths build model instances with hub.db.fresh: the same instance tortoise's constructor makes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from hub.db.fresh import fresh
from hub.db.models import EventKind, Job, JobEvent, JobStatus, Origin, OutboxMessage, Tenant


def _columns(instance: object) -> dict[str, object]:
    return {name: getattr(instance, name) for name in type(instance)._meta.fields_db_projection}  # type: ignore[attr-defined]


@pytest.mark.usefixtures("orm")
async def test_fresh_instances_equal_constructed_ones_and_save_as_new_rows() -> None:
    tenant = await Tenant.create(slug=f"t-{uuid.uuid4().hex[:6]}", name="T")
    values = {"id": uuid.uuid4(), "tenant_id": tenant.id, "origin": Origin.API, "tool": "demo.echo",
              "arguments": {"text": "x"}, "requester": "api:me", "status": JobStatus.CREATED,
              "created_at": datetime.now(UTC)}  # fmt: skip
    built, made = fresh(Job, **values), Job(**values)
    assert _columns(built) == _columns(made)
    assert built.thread_ref == {} and built.thread_ref is not fresh(Job, **values).thread_ref, "a new dict each"
    await built.save()
    assert (await Job.get(id=values["id"])).arguments == {"text": "x"}

    event = fresh(JobEvent, job_id=built.id, seq=1, kind=EventKind.CREATED, attempt=0, data={}, created_at=None)
    assert event.pk is None and not event._saved_in_db
    await event.save()
    assert event.pk is not None and (await JobEvent.get(id=event.pk)).kind is EventKind.CREATED

    row = fresh(OutboxMessage, saved=True, id=7, task="t", payload={}, queue="q", dedupe_key="d",
                available_at=datetime.now(UTC))  # fmt: skip
    assert row._saved_in_db and row.attempts == 0 and row.sent_at is None
    with pytest.raises(TypeError, match="no columns"):
        fresh(OutboxMessage, nope=1)
