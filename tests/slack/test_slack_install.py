"""Multi-workspace install (OAuth v2): state checked, token stored encrypted, the workspace becomes a tenant
whose commands are answered with its own token."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from hub.db.models import Job, SlackInstallation, Tenant, Worker
from hub.services import admin
from tests.conftest import StartSwarm
from tests.fakes.slack_api import CHANNEL, SlackApiFake
from tests.harness import Swarm, demo_stdio_config
from tests.slack.test_slack_end_to_end import SIGNING_SECRET, post, signed_headers, wait_for

pytestmark = pytest.mark.timeout(90)
CLIENT_ID, CLIENT_SECRET = "1000000001.2000000002", "oauth-client-secret-for-tests"
SECRET_KEY = "a-32-character-or-longer-secret-key-for-tests"
OTHER_TEAM = "T0OTHER0001"


@pytest.fixture
async def installable(start_swarm: StartSwarm, aiohttp_server: Any) -> tuple[Swarm, SlackApiFake]:
    fake = SlackApiFake(tokens=())
    fake.configure_oauth(CLIENT_ID, CLIENT_SECRET)
    server = await aiohttp_server(fake.app())
    swarm = await start_swarm(
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET,
        GARAGESWARM_SECRET_KEY=SECRET_KEY, SLACK_API_URL=str(server.make_url("/api/")),
    )  # fmt: skip
    return swarm, fake


async def _get(swarm: Swarm, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(swarm.url + path, allow_redirects=False) as response:
        return response.status, response.headers.get("Location", ""), await response.text()


async def test_install_redirects_to_slack_with_a_state_and_the_redirect_stores_the_workspace(
    installable: tuple[Swarm, SlackApiFake],
) -> None:
    swarm, fake = installable
    status, location, _ = await _get(swarm, "/slack/install")
    assert status == 302 and location.startswith("https://slack.com/oauth/v2/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [CLIENT_ID] and "commands" in query["scope"][0]
    state = query["state"][0]

    code = fake.issue_code(OTHER_TEAM, "Other Garage")
    assert (await _get(swarm, f"/slack/oauth_redirect?code={code}&state=forged"))[0] == 400
    status, _, page = await _get(swarm, f"/slack/oauth_redirect?code={code}&state={state}")
    assert status == 200 and "Other Garage" in page
    assert (await _get(swarm, f"/slack/oauth_redirect?code={code}&state={state}"))[0] == 400, "a state works once"

    installation = await SlackInstallation.get(team_id=OTHER_TEAM)
    assert "xoxb" not in installation.bot_token_encrypted, "tokens are encrypted at rest"
    tenant = await Tenant.get(id=installation.tenant_id)  # type: ignore[attr-defined]
    assert tenant.slug == "slack-t0other0001"


async def _install(swarm: Swarm, fake: SlackApiFake) -> None:
    _, location, _ = await _get(swarm, "/slack/install")
    state = parse_qs(urlsplit(location).query)["state"][0]
    code = fake.issue_code(OTHER_TEAM, "Other Garage")
    assert (await _get(swarm, f"/slack/oauth_redirect?code={code}&state={state}"))[0] == 200


async def test_a_command_from_an_installed_workspace_uses_its_token_and_tenant(
    installable: tuple[Swarm, SlackApiFake],
) -> None:
    swarm, fake = installable
    await _install(swarm, fake)
    issued = await admin.add_worker("other-agent", {}, tenant_slug="slack-t0other0001")
    path = swarm.workdir / "other.toml"
    path.write_text(demo_stdio_config())
    swarm.spawn("agent-other", "agent", "--config", str(path), GARAGESWARM_API_KEY=issued.key)
    for _ in range(300):  # the workspace's tenant has its own agents
        if await Worker.filter(name="other-agent", status="online").exclude(tools=[]).exists():
            break
        await asyncio.sleep(0.1)
    fields = {"team_id": OTHER_TEAM, "channel_id": CHANNEL, "user_id": "U0OTHER0001", "command": "/swarm",
              "text": "tool demo.echo text=tenant", "trigger_id": "10.10.tenant",
              "response_url": "https://hooks.slack.invalid/x"}  # fmt: skip
    body = urlencode(fields).encode()
    assert (await post(swarm, body, signed_headers(body)))[0] == 200
    await wait_for(lambda: any("succeeded" in str(c["text"]) for c in fake.calls("chat.postMessage")))
    posts = [call for call in fake.log if call.method == "chat.postMessage"]
    assert posts and all(call.response.get("ok") for call in posts), (
        "posts are made with the installed workspace's token (the fake knows no other)"
    )
    job = await Job.get(origin="slack")
    installation = await SlackInstallation.get(team_id=OTHER_TEAM)
    assert job.tenant_id == installation.tenant_id  # type: ignore[attr-defined]
