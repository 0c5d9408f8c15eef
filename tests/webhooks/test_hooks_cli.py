"""`garageswarm hooks ...`: endpoints, rules, deliveries, replay and subscriptions from the command line;
a mistake is one line on stderr and changes nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from hub.db.webhook_models import HookEndpoint, Subscription
from hub.settings import Settings
from hub.webhooks.secrets import webhook_box
from tests.webhooks.support import PR_RULE


async def _hooks(
    tmp_path: Path, database_url: str, redis_url: str, *args: str, **more: str
) -> subprocess.CompletedProcess[str]:
    env = {"GARAGESWARM_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "DATABASE_URL": database_url,
           "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "GARAGESWARM_SECRET_KEY": "k" * 40, **more}  # fmt: skip
    command = [sys.executable, "-m", "hub.cli", "hooks", *args]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)


async def test_an_endpoint_is_created_listed_given_rules_and_its_mistakes_refused(
    orm: None, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    async def hooks(*args: str) -> subprocess.CompletedProcess[str]:
        return await _hooks(tmp_path, database_url, redis_url, *args)

    added = await hooks("add", "github", "--scheme", "github", "--channel", "console:ci")
    assert added.returncode == 0, added.stderr
    endpoint = await HookEndpoint.get(name="github")
    assert f"/hooks/{endpoint.public_id}" in added.stdout and "secret (shown once)" in added.stdout
    assert len(added.stdout.splitlines()[-1]) >= 32, "the generated secret is printed once, in full"

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([PR_RULE]))
    assert (await hooks("rules", "github", str(rules))).stdout.strip() == "1 rule(s) set on github"
    listed = await hooks("list")
    assert listed.stdout.startswith(f"github\tgithub\t/hooks/{endpoint.public_id}\t1 rules\tenabled")
    assert (await hooks("deliveries", "github")).stdout.strip() == "no deliveries"

    rules.write_text("[{not json")
    broken = await hooks("rules", "github", str(rules))
    rules.write_text(json.dumps([PR_RULE, PR_RULE]))
    twice = await hooks("rules", "github", str(rules))
    bad_option = await hooks("add", "other", "--scheme", "hmac", "--option", "no-equals-sign")
    no_pair = "garageswarm hooks: --option expects KEY=VALUE, got 'no-equals-sign'"
    for result, message in ((broken, "Expecting property name"), (twice, "rule names must be unique"),
                            (bad_option, no_pair)):  # fmt: skip
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    await endpoint.refresh_from_db()
    assert [rule["name"] for rule in endpoint.rules] == ["pr-opened"], "a refused change changes nothing"
    assert await HookEndpoint.all().count() == 1

    for args, message in ((("deliveries", "nope"), "no endpoint 'nope'"), (("replay", "999"), "no delivery 999"),
                          (("retry", "999"), "no outbound delivery 999")):  # fmt: skip
        result = await hooks(*args)
        assert result.returncode == 1 and message in result.stderr


async def test_a_subscription_to_a_private_address_is_refused(
    orm: None, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    refused = await _hooks(tmp_path, database_url, redis_url, "subscribe", "http://127.0.0.1:9/x", "--event",
                           "job.succeeded")  # fmt: skip

    assert refused.returncode == 1 and "127.0.0.1 is not a public address" in refused.stderr
    assert await Subscription.all().count() == 0


async def test_a_secret_the_user_typed_is_never_printed_back(
    orm: None, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    typed, outbound = "a-secret-typed-on-the-command-line", "whsec_" + "c2VjcmV0LXR5cGVkLWZvci1vdXRib3VuZA=="
    added = await _hooks(tmp_path, database_url, redis_url, "add", "ci", "--scheme", "bearer", "--secret", typed)
    subscribe = ("subscribe", "http://127.0.0.1:9/x", "--event", "job.failed", "--secret", outbound)
    subscribed = await _hooks(
        tmp_path, database_url, redis_url, *subscribe, GARAGESWARM_WEBHOOK_ALLOW_NETWORKS="127.0.0.1/32"
    )

    for result, secret in ((added, typed), (subscribed, outbound)):
        assert result.returncode == 0, result.stderr
        assert secret not in result.stdout + result.stderr
        assert "the one you gave with --secret (not shown)" in result.stdout
    box = webhook_box(
        Settings.from_env({"GARAGESWARM_DATA_DIR": str(tmp_path / "data"), "GARAGESWARM_SECRET_KEY": "k" * 40})
    )
    assert box.decrypt((await HookEndpoint.get(name="ci")).secret_encrypted) == typed, (
        "the typed secret is the one kept"
    )
    assert box.decrypt((await Subscription.get()).secret_encrypted) == outbound
