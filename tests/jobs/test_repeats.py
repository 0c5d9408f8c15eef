"""Which lost calls may run again: the tool's hints, the agent operator's word, the hub operator's list."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.repeats import RepeatPolicy, declared_tool, not_repeated_reason


@pytest.mark.parametrize(
    ("declared", "repeat"),
    [
        (None, False),  # the agent no longer lists the tool: nothing vouches for it
        ({}, False),  # no hints: MCP's defaults say it may not be idempotent
        ({"read_only": True}, True),
        ({"idempotent": True}, True),
        ({"read_only": False, "idempotent": False}, False),
        ({"idempotent": True, "safe_to_repeat": False}, False),  # the operator does not trust the hint
        ({"safe_to_repeat": True}, True),  # the operator vouches for a tool without hints
        ({"read_only": "yes"}, False),  # only a real true counts
    ],
)
def test_a_lost_call_runs_again_only_when_the_tool_is_safe_to_repeat(
    declared: dict[str, Any] | None, repeat: bool
) -> None:
    assert RepeatPolicy().may_repeat("git.push", declared) is repeat


def test_the_hub_operator_may_name_tools_that_always_run_again() -> None:
    policy = RepeatPolicy(("git.*", "deploy.status"))
    assert policy.may_repeat("git.push", {"safe_to_repeat": False}) and policy.may_repeat("deploy.status", None)
    assert not policy.may_repeat("deploy.apply", {})


def test_a_tool_is_found_among_what_its_agent_registered() -> None:
    tools = [{"name": "git.status", "read_only": True}, {"name": "git.push"}]
    assert declared_tool(tools, "git.push") == {"name": "git.push"} and declared_tool(tools, "git.pull") is None


def test_the_reason_says_what_happened_why_it_was_not_repeated_and_how_to_retry() -> None:
    assert not_repeated_reason("agent lost while the tool was running", "1b4e28ba-2fa1-11d2-883f-0016d3cca427") == (
        "agent lost while the tool was running; not retried because the tool may not be safe to repeat "
        "(check what it did, then retry it by hand: /swarm retry 1b4e28ba)"
    )
