"""Coalescing the agent's run reports: starts, events and results that are ready at the same moment
go to the hub in one request (``POST /api/v1/agent/reports``), each answered on its own.

There is no timer: a report that finds no request in flight goes at once, alone; reports that arrive
while one is in flight wait for it and then leave together, so batches grow by themselves with the
load and an idle agent pays no extra latency. A failed request fails every report it carried, with
the same :class:`HubUnreachable` / :class:`HubError` a single request would have raised, so callers
keep their retry and spool rules (a result is still only dropped once the hub answered for it)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import HubError, HubUnreachable

log = logging.getLogger(__name__)
Kind = Literal["starts", "events", "results"]
KINDS: tuple[Kind, ...] = ("starts", "events", "results")
MAX_ITEMS = 200  # per kind and request (the hub takes up to 500)
MAX_BODY_BYTES = 512 * 1024  # half the hub's default request limit
MAX_IN_FLIGHT = 2
REFUSED_AS_A_WHOLE = (400, 413, 422)  # a malformed or too large request: retried item by item to find which
Send = Callable[[bytes], Awaitable[dict[str, Any]]]


@dataclass
class _Waiting:
    kind: Kind
    body: bytes  # the item's JSON, encoded once
    answer: asyncio.Future[dict[str, Any]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ReportBatcher:
    """``await submit(kind, item)`` → the hub's answer for that item."""

    def __init__(self, send: Send, *, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.send = send
        self.max_in_flight = max_in_flight
        self._waiting: list[_Waiting] = []
        self._senders: set[asyncio.Task[None]] = set()

    async def submit(self, kind: Kind, item: dict[str, Any]) -> dict[str, Any]:
        waiting = _Waiting(kind, json.dumps(item, separators=(",", ":")).encode())
        self._waiting.append(waiting)
        if len(self._senders) < self.max_in_flight:
            sender = asyncio.create_task(self._send_waiting())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        answer = await waiting.answer
        error = answer.get("error")
        if error:
            raise HubError(404 if error == "no such job" else 413, str(error))
        return answer

    def _take(self) -> list[_Waiting]:
        """The next request's items: everything waiting, within the item and size limits, in order."""
        taken: list[_Waiting] = []
        counts = dict.fromkeys(KINDS, 0)
        size = 0
        for waiting in self._waiting:
            if taken and (counts[waiting.kind] >= MAX_ITEMS or size + len(waiting.body) > MAX_BODY_BYTES):
                break
            taken.append(waiting)
            counts[waiting.kind] += 1
            size += len(waiting.body) + 1
        self._waiting = self._waiting[len(taken) :]
        return taken

    async def _send_waiting(self) -> None:
        while self._waiting:
            await self._send(self._take())

    async def _send(self, batch: list[_Waiting]) -> None:
        """One request for ``batch``, each report answered or failed. A request refused as a whole is sent
        again report by report, so that one bad report does not take the others down with it."""
        try:
            answers = await self.send(_body(batch))
        except HubError as exc:
            if len(batch) > 1 and exc.status in REFUSED_AS_A_WHOLE:
                for waiting in batch:
                    await self._send([waiting])
            else:
                _fail(batch, exc)
        except HubUnreachable as exc:
            _fail(batch, exc)
        except Exception as exc:  # a bug must not leave callers waiting forever
            log.exception("sending reports failed")
            _fail(batch, HubUnreachable(f"{type(exc).__name__}: {exc}"))
        else:
            _answer(batch, answers)


def _body(batch: list[_Waiting]) -> bytes:
    parts = []
    for kind in KINDS:
        parts.append(b'"' + kind.encode() + b'":[' + b",".join(w.body for w in batch if w.kind == kind) + b"]")
    return b"{" + b",".join(parts) + b"}"


def _answer(batch: list[_Waiting], answers: dict[str, Any]) -> None:
    for kind in KINDS:
        mine = [w for w in batch if w.kind == kind]
        theirs = answers.get(kind) or []
        for index, waiting in enumerate(mine):
            if waiting.answer.done():
                continue
            if index < len(theirs) and isinstance(theirs[index], dict):
                waiting.answer.set_result(theirs[index])
            else:
                waiting.answer.set_exception(HubUnreachable("the hub's answer left this report out"))


def _fail(batch: list[_Waiting], error: Exception) -> None:
    """Each report gets its own copy of the error (an exception object is raised in one place)."""
    for waiting in batch:
        if not waiting.answer.done():
            copy = HubError(error.status, error.message) if isinstance(error, HubError) else HubUnreachable(str(error))
            waiting.answer.set_exception(copy)
