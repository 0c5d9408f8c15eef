"""The chat doors' ack statement for a batch: each new delivery gets its task's outbox row, repeats nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tortoise import connections

from hub.db.lifecycle import close_orm, init_orm
from hub.db.models import InboundDelivery, OutboxMessage
from jobs import outbox


@pytest.fixture
async def orm(database_url: str) -> AsyncIterator[None]:
    await init_orm(database_url, maxsize=2)
    yield
    await close_orm()


def _inbound(delivery_id: str, text: str = "help") -> outbox.Inbound:
    return outbox.Inbound("slack:command", delivery_id, "slack_command", {"text": text}, "gs:queue:hub")


async def test_a_batch_stores_each_new_delivery_once_with_its_task_and_answers_repeats_with_none(orm: None) -> None:
    db = connections.get("default")
    [earlier] = await outbox.record_inbound_many(db, [_inbound("t-0")])
    assert earlier is not None
    answers = await outbox.record_inbound_many(
        db, [_inbound("t-1", "first"), _inbound("t-2"), _inbound("t-1", "again"), _inbound("t-0")]
    )
    assert [a is not None for a in answers] == [True, True, False, False]
    first, second = answers[0], answers[1]
    assert first is not None and second is not None
    stored = {d.delivery_id: d.id for d in await InboundDelivery.all()}
    assert sorted(stored) == ["t-0", "t-1", "t-2"]
    assert first.payload == {"text": "first", "delivery_id": stored["t-1"]}, "the first of the repeats wins"
    assert (first.task, first.queue, first.dedupe_key) == (
        "slack_command",
        "gs:queue:hub",
        f"slack:command:{stored['t-1']}",
    )
    assert second.payload["delivery_id"] == stored["t-2"]
    assert await OutboxMessage.all().count() == 3


async def test_chat_deliveries_received_long_ago_are_forgotten_and_recent_ones_kept(orm: None) -> None:
    db = connections.get("default")
    await outbox.record_inbound_many(db, [_inbound("old"), _inbound("recent")])
    await InboundDelivery.filter(delivery_id="old").update(received_at=outbox.utcnow() - timedelta(days=2))
    assert await outbox.purge_inbound(older_than_s=86400) == 1
    assert [d.delivery_id for d in await InboundDelivery.all()] == ["recent"]
