"""The outbox keeps what is unsent and forgets what was sent long ago."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from hub.db.lifecycle import close_orm, init_orm
from hub.db.models import OutboxMessage
from jobs import outbox


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
