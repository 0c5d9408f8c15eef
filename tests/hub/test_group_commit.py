"""Group commit: concurrent callers share writes, each gets its own answer, failures reach the batch."""

from __future__ import annotations

import asyncio

import pytest

from hub.db.group_commit import GroupCommit


async def test_callers_arriving_during_a_write_share_the_next_one_and_get_their_own_results() -> None:
    batches: list[list[int]] = []

    async def write_many(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)  # the statement's round trip
        return [item * 10 for item in items]

    group = GroupCommit(write_many, max_batch=50, max_in_flight=1)
    first = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0.001)  # its write is under way
    results = [await first, *await asyncio.gather(*(group.submit(n) for n in range(1, 120)))]
    assert results == [n * 10 for n in range(120)]
    assert batches[0] == [0], "the first write goes out at once, alone"
    assert [len(b) for b in batches[1:]] == [50, 50, 19], "the rest waited for the next writes"


async def test_a_failed_write_fails_every_caller_of_its_batch_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def write_many(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 2:
            raise ConnectionError("database went away")
        return items

    group = GroupCommit(write_many, max_in_flight=1)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    failing = [asyncio.create_task(group.submit(x)) for x in "bc"]
    await first
    with pytest.raises(ConnectionError):
        await failing[0]
    with pytest.raises(ConnectionError):
        await failing[1]
    assert await group.submit("d") == "d"


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_write() -> None:
    written: list[int] = []

    async def write_many(items: list[int]) -> list[int]:
        await asyncio.sleep(0.02)
        written.extend(items)
        return items

    group = GroupCommit(write_many)
    impatient = asyncio.create_task(group.submit(1))
    patient = asyncio.create_task(group.submit(2))
    await asyncio.sleep(0.005)
    impatient.cancel()
    assert await patient == 2
    await group.close()
    assert sorted(written) == [1, 2]


async def test_a_writer_answering_the_wrong_number_of_rows_is_an_error_not_a_mix_up() -> None:
    async def write_many(items: list[int]) -> list[int]:
        return items[:-1]

    with pytest.raises(RuntimeError, match="1 items"):
        await GroupCommit(write_many).submit(7)
