"""Outbound webhooks: what an event looks like, when to try again, and one signed attempt.

Each attempt is a Standard Webhooks request (``webhook-id`` stays the same across attempts, so a
receiver de-duplicates). Targets go through the SSRF guard on every hop: redirects are followed only
for 307/308 (which keep the method and body), at most a few, each checked like the first."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp

from hub.security.ssrf import BlockedTarget, GuardedResolver, TargetPolicy
from hub.security.webhooks import sign_standard_webhook

EXCERPT_CHARS = 500
MAX_REDIRECTS = 3
JITTER = 0.2
USER_AGENT = "GarageSwarm-Webhooks/1"
EVENT_OF_KIND = {
    "succeeded": "job.succeeded", "failed": "job.failed", "cancelled": "job.cancelled", "timed_out": "job.timed_out",
    "approval_requested": "approval.requested", "approval_decided": "approval.decided",
}  # fmt: skip


def next_delay_s(attempts_made: int, schedule_s: tuple[float, ...], rng: random.Random | None = None) -> float | None:
    """Delay before the next attempt after ``attempts_made`` failed ones (±20 % jitter); None: give up."""
    if attempts_made < 1 or attempts_made > len(schedule_s):
        return None
    base = schedule_s[attempts_made - 1]
    return base * (1 + JITTER * (2 * (rng or random).random() - 1))


def event_payload(event_type: str, at: str, job: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The body of an outbound webhook (the Standard Webhooks shape: type, timestamp, data)."""
    return {"type": event_type, "timestamp": at, "data": {"job": job, "event": event}}


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    excerpt: str
    error: str | None
    duration_ms: int
    permanent: bool = False  # retrying cannot help (a refused target)


def signed_headers(secret: str, msg_id: str, body: bytes, now: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json", "User-Agent": USER_AGENT, "webhook-id": msg_id,
        "webhook-timestamp": str(now), "webhook-signature": sign_standard_webhook(secret, msg_id, now, body),
    }  # fmt: skip


def guarded_session(policy: TargetPolicy) -> aiohttp.ClientSession:
    """A client session whose every connection goes through the SSRF check."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), use_dns_cache=False, limit=100)
    return aiohttp.ClientSession(connector=connector)


async def attempt(
    session: aiohttp.ClientSession, policy: TargetPolicy, url: str, headers: dict[str, str], body: bytes,
    timeout_s: float,
) -> AttemptResult:  # fmt: skip
    """POST once (following checked 307/308 redirects); a 2xx answer is a success."""
    started = time.monotonic()

    def result(ok: bool, status: int | None, excerpt: str, error: str | None, permanent: bool = False) -> AttemptResult:
        return AttemptResult(ok, status, excerpt[:EXCERPT_CHARS], error, int((time.monotonic() - started) * 1000),
                             permanent)  # fmt: skip

    target = url
    try:
        async with asyncio.timeout(timeout_s):
            for _hop in range(MAX_REDIRECTS + 1):
                policy.check_url(target)
                async with session.post(target, data=body, headers=headers, allow_redirects=False) as response:
                    text = (await response.content.read(EXCERPT_CHARS * 4)).decode(errors="replace")
                    location = response.headers.get("Location")
                    if response.status in (307, 308) and location:
                        target = urljoin(target, location)
                        continue
                    return result(200 <= response.status < 300, response.status, text,
                                  None if response.status < 300 else f"HTTP {response.status}")  # fmt: skip
            return result(False, None, "", f"more than {MAX_REDIRECTS} redirects")
    except BlockedTarget as exc:
        return result(False, None, "", f"target refused: {exc.reason}", permanent=True)
    except aiohttp.ClientConnectorError as exc:
        return result(False, None, "", f"cannot connect: {exc.os_error}")
    except TimeoutError:
        return result(False, None, "", f"no answer within {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return result(False, None, "", f"{type(exc).__name__}: {exc}")
