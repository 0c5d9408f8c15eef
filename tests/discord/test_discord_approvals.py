"""Approvals in Discord: a risky tool waits for an approver's click (a user or a role the member holds, as
configured or granted by an admin, or a member linked to a person with the approver role); anyone else, a
second click and silence change nothing but what the message says."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.db.auth_models import RoleGrant
from hub.db.models import ChatIdentity, User
from hub.services import admin
from tests.conftest import StartSwarm
from tests.discord.conftest import Discord, start_discord, wait_for
from tests.discord.support import interaction, swarm
from tests.fakes.discord_api import GUILD_ID

pytestmark = pytest.mark.timeout(90)
APPROVER, ROLE, ROLE_MEMBER, STRANGER = (
    "1600000000000000001",
    "1600000000000000002",
    "1600000000000000003",
    "1600000000000000004",
)
LINKED, LINKED_VIEWER, LEADS, LEAD = (
    "1600000000000000005",
    "1600000000000000006",
    "1600000000000000007",
    "1600000000000000008",
)


@pytest.fixture
async def approvals(start_swarm: StartSwarm, aiohttp_server: Any) -> AsyncIterator[Discord]:
    env = {"GARAGESWARM_APPROVAL_TOOLS": "demo.echo,demo.fail", "DISCORD_APPROVERS": f"{APPROVER},{ROLE}",
           "GARAGESWARM_APPROVAL_TIMEOUT_S": "4"}  # fmt: skip
    async for running in start_discord(start_swarm, aiohttp_server, **env):
        yield running


async def awaiting(discord: Discord, tool: str, args: str) -> tuple[str, dict[str, Any]]:
    """Run a tool that needs approval; return the job id and the approval message with its buttons."""
    before = {j["id"] for j in await discord.jobs()}
    await discord.interact(interaction(2, swarm("tool", name=tool, args=args)))
    for _ in range(200):
        new = [j for j in await discord.jobs() if j["id"] not in before]
        if new:
            break
        await asyncio.sleep(0.05)
    (job,) = new
    button = f"swarm:approve:{job['id']}"

    def prompt() -> dict[str, Any] | None:
        calls = discord.fake.calls_to("POST", "/webhooks/{a}/{b}")
        return next((c.response for c in calls if c.status == 200 and button in json.dumps(c.json)), None)

    await wait_for(lambda: prompt() is not None)
    assert (await discord.swarm.job(job["id"]))["status"] == "awaiting_approval"
    message = prompt()
    assert message is not None
    return str(job["id"]), message


async def click(discord: Discord, action: str, job_id: str, message: dict[str, Any], user: str,
                roles: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    data = {"custom_id": f"swarm:{action}:{job_id}", "component_type": 2}
    status, answer, elapsed = await discord.interact(interaction(3, data, user=user, roles=roles, message=message))
    assert status == 200 and elapsed < 3.0
    return dict(answer)


def only_for_the_clicker(answer: dict[str, Any]) -> str:
    assert answer["type"] == 4 and answer["data"]["flags"] == 64, answer
    return str(answer["data"]["content"])


async def test_an_approver_approves_once_and_the_job_runs(approvals: Discord) -> None:
    job_id, prompt = await awaiting(approvals, "demo.echo", "text=risky")

    refused = await click(approvals, "approve", job_id, prompt, STRANGER, roles=("1600000000000000099",))
    assert "Only approvers" in only_for_the_clicker(refused)
    await asyncio.sleep(0.3)
    assert (await approvals.swarm.job(job_id))["status"] == "awaiting_approval", "a non-approver changes nothing"

    approved = await click(approvals, "approve", job_id, prompt, APPROVER)
    assert approved["type"] == 7, "the prompt is updated in place"
    assert approved["data"]["content"] == f"Approved by <@{APPROVER}>" and approved["data"]["components"] == []
    job = await approvals.swarm.wait_job(job_id)
    assert job["status"] == "succeeded"
    decided = [e["data"] for e in job["events"] if e["kind"] == "approval_decided"]
    assert [(d["decision"], d["user_id"]) for d in decided] == [("approved", APPROVER)]

    again = await click(approvals, "deny", job_id, prompt, APPROVER)
    assert "already decided" in only_for_the_clicker(again)
    assert (await approvals.swarm.job(job_id))["status"] == "succeeded", "a second click changes nothing"
    shown = approvals.fake.messages[prompt["id"]]
    await wait_for(lambda: shown["components"] == [])
    assert shown["content"] == f"Approved by <@{APPROVER}>"


async def test_a_role_approver_denies_and_silence_times_out_as_denied(approvals: Discord) -> None:
    denied_id, denied_prompt = await awaiting(approvals, "demo.fail", "message=no")
    answer = await click(approvals, "deny", denied_id, denied_prompt, ROLE_MEMBER, roles=(ROLE,))
    assert answer["data"]["content"] == f"Denied by <@{ROLE_MEMBER}>"
    job = await approvals.swarm.wait_job(denied_id)
    assert job["status"] == "cancelled" and not [e for e in job["events"] if e["kind"] == "started"]

    waiting_id, waiting_prompt = await awaiting(approvals, "demo.echo", "text=wait")
    job = await approvals.swarm.wait_job(waiting_id, timeout_s=20)
    assert job["status"] == "cancelled" and job["error"] == "denied by timeout"
    shown = approvals.fake.messages[waiting_prompt["id"]]
    await wait_for(lambda: shown["components"] == [])
    assert shown["content"] == "Denied by timeout"
    late = await click(approvals, "approve", waiting_id, waiting_prompt, APPROVER)
    assert "already decided" in only_for_the_clicker(late)
    stale = await click(approvals, "approve", "8c7f0000-0000-4000-8000-000000000000", waiting_prompt, APPROVER)
    assert "stale" in only_for_the_clicker(stale)


async def _linked_person(discord_user: str, role: str) -> None:
    """A signed-in person holding ``role`` who linked this Discord account (with /swarm login) in the guild."""
    tenant = await admin.ensure_tenant()
    person = await User.create(tenant_id=tenant.id, display_name=f"person of {discord_user}")
    await ChatIdentity.create(user=person, platform="discord", team_id=GUILD_ID, platform_user_id=discord_user)
    await RoleGrant.create(user=person, role=role, granted_by="tests")


async def test_a_linked_approver_and_an_admin_granted_role_decide_but_a_linked_viewer_cannot(
    approvals: Discord,
) -> None:
    await _linked_person(LINKED, "approver")
    await _linked_person(LINKED_VIEWER, "viewer")
    job_id, prompt = await awaiting(approvals, "demo.echo", "text=linked")
    refused = await click(approvals, "approve", job_id, prompt, LINKED_VIEWER)
    assert "Only approvers" in only_for_the_clicker(refused)
    await asyncio.sleep(0.3)
    assert (await approvals.swarm.job(job_id))["status"] == "awaiting_approval", "a viewer changes nothing"
    approved = await click(approvals, "approve", job_id, prompt, LINKED)
    assert approved["type"] == 7 and approved["data"]["content"] == f"Approved by <@{LINKED}>"
    assert (await approvals.swarm.wait_job(job_id))["status"] == "succeeded"

    grant = {"platform": "discord", "team_id": GUILD_ID, "subject_kind": "role", "subject_id": LEADS}
    status, body = await approvals.swarm.api("POST", "/api/v1/chat-grants", json=grant)
    assert status == 201, body
    denied_id, denied_prompt = await awaiting(approvals, "demo.fail", "message=no")
    denied = await click(approvals, "deny", denied_id, denied_prompt, LEAD, roles=(LEADS,))
    assert denied["data"]["content"] == f"Denied by <@{LEAD}>"
    assert (await approvals.swarm.wait_job(denied_id))["status"] == "cancelled"
