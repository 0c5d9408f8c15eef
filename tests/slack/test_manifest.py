"""The app manifest users paste must name every door and scope the code relies on."""

from __future__ import annotations

from pathlib import Path

from hub.settings import DEFAULT_SLACK_SCOPES

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yml"


def test_manifest_points_every_slack_feature_at_our_doors_and_asks_for_our_scopes() -> None:
    text = MANIFEST.read_text()
    assert text.count("https://hub.example.com/slack/events") == 3  # command, events, interactivity
    assert "https://hub.example.com/slack/oauth_redirect" in text
    assert "command: /swarm" in text and "- app_mention" in text
    for scope in DEFAULT_SLACK_SCOPES.split(","):
        assert f"      - {scope}\n" in text, scope
