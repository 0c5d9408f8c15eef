"""The agent's HTTPS client for the hub's agent API, with errors sorted into transient and
permanent, and exponential backoff with jitter for the transient ones."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from .batch import ReportBatcher
from .errors import HubError, HubUnreachable

__all__ = ["HubClient", "HubError", "HubUnreachable", "backoff_delay_s", "with_retries"]
log = logging.getLogger(__name__)
REQUEST_TIMEOUT_S = 30.0
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 30.0
T = TypeVar("T")


def backoff_delay_s(failures: int, rng: random.Random | None = None) -> float:
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(failures, 16))
    return (rng or random).uniform(ceiling / 2, ceiling)


async def with_retries(call: Callable[[], Awaitable[T]], *, attempts: int | None = None) -> T:
    """Retry a transient failure with backoff (forever when ``attempts`` is None)."""
    failures = 0
    while True:
        try:
            return await call()
        except HubUnreachable as exc:
            failures += 1
            if attempts is not None and failures >= attempts:
                raise
            delay = backoff_delay_s(failures)
            log.warning("hub unreachable; retrying", extra={"error": str(exc), "in_s": round(delay, 2)})
            await asyncio.sleep(delay)


class HubClient:
    """Calls the agent API with the agent's key. Run reports (start, events, result) that are ready at
    the same moment share one request (:mod:`jobs.agent.batch`)."""

    def __init__(
        self, session: aiohttp.ClientSession, hub_url: str, api_key: str, *, session_id: str | None = None
    ) -> None:
        self.session = session
        self.base = hub_url.rstrip("/") + "/api/v1/agent"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.session_id = session_id  # this process, as registered: heart-beats name it
        self.batcher = ReportBatcher(self._send_batch)

    async def _send_batch(self, body: bytes) -> dict[str, Any]:
        answer: dict[str, Any] = await self._request(
            "POST", "/reports", data=body, headers={"Content-Type": "application/json"}
        )
        return answer

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            async with self.session.request(
                method, self.base + path, headers=headers,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S), **kwargs,
            ) as response:  # fmt: skip
                if response.status >= 500 or response.status in (408, 429):
                    raise HubUnreachable(f"HTTP {response.status}")
                body = await response.json(content_type=None)
                if response.status >= 400:
                    message = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
                    raise HubError(response.status, message)
                return body
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise HubUnreachable(f"{type(exc).__name__}: {exc}") from exc

    async def register(self, body: dict[str, Any], *, restarted: bool) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "POST", "/register", json=body, params={"restarted": "1" if restarted else "0"}
        )
        return result

    async def heartbeat(self, active_jobs: int) -> None:
        await self._request("POST", "/heartbeat", json={"active_jobs": active_jobs, "session": self.session_id})

    async def start(self, job_id: str, attempt: int) -> tuple[bool, str]:
        body = await self.batcher.submit("starts", {"job_id": job_id, "attempt": attempt})
        return bool(body["run"]), str(body["reason"])

    async def events(self, job_id: str, attempt: int, events: list[dict[str, Any]]) -> None:
        await self.batcher.submit("events", {"job_id": job_id, "attempt": attempt, "events": events})

    async def upload(self, job_id: str, attempt: int, name: str, mime_type: str, data: bytes) -> dict[str, Any]:
        params = {"attempt": str(attempt), "name": name}
        result: dict[str, Any] = await self._request(
            "PUT", f"/jobs/{quote(job_id)}/artifacts", params=params, data=data,
            headers={"Content-Type": mime_type},
        )  # fmt: skip
        return result

    async def result(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.batcher.submit("results", {**body, "job_id": job_id})

    async def start_with_result(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Start a run and report its result in one item: the hub records the result only if the start is
        granted (``started`` in the answer says whether it was, ``reason`` why not)."""
        return await self.batcher.submit("results", {**body, "job_id": job_id, "start": True})

    def websocket_url(self) -> str:
        url = self.base.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
        return url + (f"?session={quote(self.session_id)}" if self.session_id else "")
