"""Which tool calls may run again after their outcome was lost (pure).

A call is at least once, never exactly once: when its agent is lost mid-call (killed, powered off, cut
off), or its server crashes or times out mid-call, the tool may or may not have done its work, and
nothing can tell. Running it again is right only for a tool that is safe to repeat. That is the tool's
own claim (MCP ``readOnlyHint`` or ``idempotentHint``), unless the agent's operator overrode it for the
server or the tool (``safe_to_repeat`` in the agent's TOML: annotations are only hints, and a server may
not set them), or the hub's operator named the tool (``GARAGESWARM_SAFE_TO_REPEAT``). A call that is not
safe to repeat ends failed, with the reason, and a person may retry it by hand."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NOT_REPEATED = "not retried because the tool may not be safe to repeat"


@dataclass(frozen=True)
class RepeatPolicy:
    """The hub's own list of tool patterns that may always run again (``server.tool``, ``server.*``)."""

    patterns: tuple[str, ...] = ()

    def may_repeat(self, tool: str, declared: Mapping[str, Any] | None) -> bool:
        """Whether a lost call of ``tool`` may run again; ``declared`` is what its agent registered for it
        (``read_only``, ``idempotent``, ``safe_to_repeat``), None when the agent no longer lists it."""
        if any(fnmatch.fnmatchcase(tool, pattern) for pattern in self.patterns):
            return True
        if declared is None:
            return False
        override = declared.get("safe_to_repeat")
        if override is not None:
            return override is True
        return declared.get("read_only") is True or declared.get("idempotent") is True


def declared_tool(tools: list[dict[str, Any]], tool: str) -> dict[str, Any] | None:
    """The entry for ``tool`` in an agent's registered tools."""
    return next((entry for entry in tools if entry.get("name") == tool), None)


def not_repeated_reason(what: str, job_id: str) -> str:
    """The error of a job whose lost call was not run again: what happened, why not, and how to retry it."""
    return f"{what}; {NOT_REPEATED} (check what it did, then retry it by hand: /swarm retry {job_id[:8]})"
