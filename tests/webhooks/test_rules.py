"""Rules: filters on headers and JSON fields, arguments rendered in the sandbox."""

from __future__ import annotations

import json

import pytest

from hub.webhooks.manage import HookConfigError, check_rules
from hub.webhooks.rules import Rule, RuleError, matches, render, template_context
from tests.webhooks.support import PR_RULE, PR_TEXT, github_headers, pull_request_body


def _context(payload: object) -> dict[str, object]:
    return template_context(payload, {"X-GitHub-Event": "pull_request"}, "d-1", "github")


def test_the_recorded_pull_request_matches_and_renders_the_whole_job() -> None:
    body = pull_request_body()
    rule = Rule.model_validate(PR_RULE)
    assert matches(rule, github_headers(body), json.loads(body))
    assert render(rule, _context(json.loads(body))) == ("demo.echo", {"text": PR_TEXT})


def test_other_events_and_actions_do_not_match() -> None:
    body = pull_request_body()
    rule = Rule.model_validate(PR_RULE)
    assert not matches(rule, github_headers(body, event="push"), json.loads(body))
    closed = {**json.loads(body), "action": "closed"}
    assert not matches(rule, github_headers(body), closed)
    assert not matches(rule, {}, json.loads(body)), "a missing header never matches"


def test_json_conditions_compare_types_and_follow_list_indexes() -> None:
    rule = Rule.model_validate({"name": "r", "when": {"json": {"items.1.n": 1, "ok": True}}, "tool": "demo.echo"})
    assert matches(rule, {}, {"items": [{}, {"n": 1}], "ok": True})
    assert not matches(rule, {}, {"items": [{}, {"n": True}], "ok": True}), "true is not 1"
    assert not matches(rule, {}, {"items": [{"n": 1}], "ok": True})


def test_a_single_expression_keeps_its_type() -> None:
    arguments = {"steps": "{{ payload.pull_request.commits }}", "label": "{{ 1 + 1 }}x"}
    rule = Rule.model_validate({"name": "r", "tool": "demo.progress", "arguments": arguments})
    assert render(rule, _context(json.loads(pull_request_body())))[1] == {"steps": 2, "label": "2x"}


def test_the_sandbox_refuses_internals_and_huge_values() -> None:
    for template in ("{{ payload.__class__.__mro__ }}", "{{ 'x' * 100000000 }}", "{{ payload.missing }}"):
        rule = Rule.model_validate({"name": "r", "tool": "demo.echo", "arguments": {"text": template}})
        with pytest.raises(RuleError):
            render(rule, _context({"a": 1}))


def test_saving_rules_checks_templates_and_names() -> None:
    with pytest.raises(HookConfigError, match="does not compile"):
        check_rules([{"name": "r", "tool": "demo.echo", "arguments": {"text": "{{ oops"}}])
    with pytest.raises(HookConfigError, match="unique"):
        check_rules([{"name": "r", "tool": "demo.echo"}, {"name": "r", "tool": "demo.echo"}])
    with pytest.raises(HookConfigError, match="rule 1"):
        check_rules([{"name": "r", "tool": "demo.echo", "unknown": 1}])
