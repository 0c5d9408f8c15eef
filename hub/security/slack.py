"""Slack request signing: ``v0=HMAC-SHA256(secret, "v0:<timestamp>:<raw body>")`` within a replay window.

The check itself is slack_sdk's :class:`SignatureVerifier` (HMAC, its five-minute window against an injected
clock, ``hmac.compare_digest``); this module adds what it leaves out: a reason for every refusal, a strict
timestamp syntax (its ``int()`` would take ``" 1_5"`` and raise on ``"abc"``), an optional narrower window,
and a shape check on the signature before it is compared.
"""

from __future__ import annotations

import re
from typing import Final

from slack_sdk.signature import Clock, SignatureVerifier

REPLAY_WINDOW_S: Final = 300
TIMESTAMP_HEADER: Final = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER: Final = "X-Slack-Signature"

_TIMESTAMP_RE: Final = re.compile(r"[0-9]{1,12}")
_SIGNATURE_RE: Final = re.compile(r"v0=[0-9a-f]{64}")


class SlackSignatureError(Exception):
    """A request that does not prove it comes from Slack; ``reason`` says why (safe to log, holds no secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _FrozenClock(Clock):  # type: ignore[misc]  # slack_sdk is not type-checked here
    """The caller's ``now``, so that verification is a pure function of its inputs."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify_slack_request(
    signing_secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    window_s: int = REPLAY_WINDOW_S,
) -> None:
    """Raise SlackSignatureError unless ``signature`` signs ``timestamp`` and ``body`` and the timestamp is fresh.

    Args:
        signing_secret: the app's signing secret; an empty one is a configuration error (ValueError).
        timestamp: the ``X-Slack-Request-Timestamp`` header (None or "" when missing).
        signature: the ``X-Slack-Signature`` header (None or "" when missing).
        body: the raw request body, exactly as received.
        now: the current Unix time in seconds.
        window_s: how far the timestamp may be from ``now``, either way; at most Slack's 300 s.
    """
    if not signing_secret:
        raise ValueError("the Slack signing secret is empty")
    if not 0 <= window_s <= REPLAY_WINDOW_S:
        raise ValueError(f"window_s must be between 0 and {REPLAY_WINDOW_S} s")
    if not timestamp:
        raise SlackSignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signature:
        raise SlackSignatureError(f"missing {SIGNATURE_HEADER} header")
    if _TIMESTAMP_RE.fullmatch(timestamp) is None:
        raise SlackSignatureError(f"{TIMESTAMP_HEADER} is not a Unix time in seconds")
    if not abs(now - int(timestamp)) <= window_s:  # written so that a NaN ``now`` refuses too
        raise SlackSignatureError(f"{TIMESTAMP_HEADER} is more than {window_s} s away from now")
    if _SIGNATURE_RE.fullmatch(signature) is None:
        raise SlackSignatureError(f"{SIGNATURE_HEADER} is not shaped like v0=<64 hex digits>")
    verifier = SignatureVerifier(signing_secret, clock=_FrozenClock(now))
    try:
        valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except UnicodeDecodeError:  # slack_sdk decodes the body as text; Slack only ever sends UTF-8
        raise SlackSignatureError("the body is not UTF-8") from None
    if valid is not True:
        raise SlackSignatureError(f"{SIGNATURE_HEADER} does not match the body")
