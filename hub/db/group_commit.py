"""Group commit: concurrent writes coalesced into one statement, each caller answered with its own row.

A request that arrives while a batch is being written waits for the next batch instead of taking a
connection, a statement and a commit (a WAL flush) of its own. There is no timer: the first write
goes out at once, alone; under load the batches grow by themselves to what arrived during the
previous write. Every caller is answered only after the commit that holds its row, so an answer
still means "stored"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")
WriteMany = Callable[[list[Item]], Awaitable[Sequence[Result]]]


class GroupCommit(Generic[Item, Result]):
    """``await submit(item)`` → its result from ``write_many(batch)`` (one result per item, in order)."""

    def __init__(self, write_many: WriteMany[Item, Result], *, max_batch: int = 256, max_in_flight: int = 2) -> None:
        self.write_many = write_many
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._writers) < self.max_in_flight:
            writer = asyncio.create_task(self._write_waiting())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        # A caller that goes away (client disconnect) does not cancel the write others share.
        return await asyncio.shield(future)

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                results = await self.write_many([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"write_many answered {len(results)} results for {len(batch)} items")
            except Exception as exc:  # every caller of the batch hears of it; nothing was stored
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Let the writes under way finish (at shutdown)."""
        if self._writers:
            await asyncio.gather(*self._writers, return_exceptions=True)
