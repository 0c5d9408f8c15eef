"""Helpers for webhook tests: the recorded GitHub payload, signing, a rule that uses it."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
GITHUB_SECRET = "It's a Secret to Everybody"
PR_RULE: dict[str, Any] = {
    "name": "pr-opened",
    "when": {"headers": {"X-GitHub-Event": "pull_request"}, "json": {"action": ["opened", "reopened"]}},
    "tool": "demo.echo",
    "arguments": {"text": "PR #{{ payload.number }} {{ payload.pull_request.title }} by {{ payload.sender.login }} "
                  "({{ payload.pull_request.head.ref }} → {{ payload.pull_request.base.ref }})"},
}  # fmt: skip
PR_TEXT = "PR #42 Add retry budget to the image pipeline by octo-dev (retry-budget → main)"


def pull_request_body() -> bytes:
    return (FIXTURES / "github_pull_request_opened.json").read_bytes()


def github_headers(body: bytes, *, event: str = "pull_request", delivery: str | None = None,
                   secret: str = GITHUB_SECRET) -> dict[str, str]:  # fmt: skip
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/5f4c2e1", "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-Hub-Signature-256": f"sha256={signature}",
    }  # fmt: skip
