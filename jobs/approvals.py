"""Which tools need a human's approval before they run (pure)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class ApprovalPolicy:
    """Tool patterns (``git.git_commit``, ``claude_code.*``) whose jobs wait for an approver."""

    patterns: tuple[str, ...] = ()
    timeout_s: float = 3600.0

    def requires_approval(self, tool: str) -> bool:
        return any(fnmatch.fnmatchcase(tool, pattern) for pattern in self.patterns)
