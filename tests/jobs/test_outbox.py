"""The outbox keeps what is unsent and forgets what was sent long ago."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from arq.connections import RedisSettings, create_pool

from hub.db.lifecycle import close_orm, init_orm
from hub.db.models import OutboxMessage
from jobs import outbox
from jobs.effects import EffectApplier
from jobs.queue import enqueue_many


@pytest.fixture
async def orm(database_url: str) -> AsyncIterator[None]:
    await init_orm(database_url, maxsize=2)
    yield
    await close_orm()


async def test_purge_deletes_rows_sent_long_ago_and_keeps_the_rest(orm: None) -> None:
    now = outbox.utcnow()
    rows = {
        name: await OutboxMessage.create(
            task="t", payload={}, queue="q", dedupe_key=name, available_at=now, sent_at=sent_at
        )
        for name, sent_at in (("old", now - timedelta(days=2)), ("recent", now), ("unsent", None))
    }
    assert await outbox.purge_sent(older_than_s=86400) == 1
    left = set(await OutboxMessage.all().values_list("dedupe_key", flat=True))
    assert left == {"recent", "unsent"} and rows["old"].dedupe_key not in left


async def test_a_row_sent_in_the_background_is_marked_sent_a_moment_later_and_a_relay_meanwhile_adds_nothing(
    orm: None, redis_url: str
) -> None:
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    applier = EffectApplier(redis, mark_delay_s=0.3)
    try:
        row = await OutboxMessage.create(task="t", payload={}, queue="q:marks", dedupe_key="mark-1",
                                         available_at=outbox.utcnow())  # fmt: skip
        applier.send_later([row])
        for _ in range(100):
            if await redis.zcard("q:marks"):
                break
            await asyncio.sleep(0.01)
        assert await redis.zcard("q:marks") == 1, "enqueued at once"
        await row.refresh_from_db()
        assert row.sent_at is None, "marked later, with whatever else is sent meanwhile"
        assert await enqueue_many(redis, outbox.enqueue_items([row])) == [False], "a relay meanwhile enqueues nothing"
        await applier.drain()
        await row.refresh_from_db()
        assert row.sent_at is not None
        assert await redis.zcard("q:marks") == 1
    finally:
        await redis.aclose()


async def test_the_relay_sends_unsent_rows_and_leaves_fresh_ones_to_the_request_that_wrote_them(
    orm: None, redis_url: str
) -> None:
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        now = outbox.utcnow()
        rows = {
            name: await OutboxMessage.create(
                task="t", payload={}, queue="q:relay", dedupe_key=f"relay-{name}", available_at=now
            )
            for name in ("stranded", "fresh")
        }
        await OutboxMessage.filter(id=rows["stranded"].id).update(created_at=now - timedelta(seconds=5))
        assert await outbox.relay_once(redis, settled_s=2.0) == 1
        assert await redis.zrange("q:relay", 0, -1) == [b"relay-stranded"]
        for row in rows.values():
            await row.refresh_from_db()
        assert rows["stranded"].sent_at is not None and rows["fresh"].sent_at is None
        assert await outbox.relay_once(redis) == 1, "without the delay, the fresh row goes too"
        assert await redis.zcard("q:relay") == 2
    finally:
        await redis.aclose()
