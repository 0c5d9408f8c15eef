"""Approvals in Slack: a risky tool waits for an approver's click; others, repeats and silence change nothing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import StartSwarm
from tests.fakes.slack_api import BOT_TOKEN, CHANNEL, TEAM_ID, SlackApiFake
from tests.harness import Swarm, demo_stdio_config
from tests.slack.test_slack_end_to_end import SIGNING_SECRET, command_body, post, signed_headers, wait_for

pytestmark = pytest.mark.timeout(90)
APPROVER, GROUP, GROUP_MEMBER, STRANGER = "U0APPROVER1", "S0APPROVERS", "U0GROUPMEM1", "U0STRANGER1"


@pytest.fixture
async def approvals(start_swarm: StartSwarm, aiohttp_server: Any) -> tuple[Swarm, SlackApiFake]:
    fake = SlackApiFake()
    fake.add_user_group(GROUP, [GROUP_MEMBER])
    server = await aiohttp_server(fake.app())
    swarm = await start_swarm(
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=str(server.make_url("/api/")),
        GARAGESWARM_APPROVAL_TOOLS="demo.echo,demo.fail", SLACK_APPROVERS=f"{APPROVER},{GROUP}",
        GARAGESWARM_APPROVAL_TIMEOUT_S="3",
    )  # fmt: skip
    await swarm.add_agent("garage-1", demo_stdio_config())
    await swarm.wait_tools()
    return swarm, fake


def click_body(user: str, action_id: str, job_id: str, message_ts: str) -> bytes:
    payload = {
        "type": "block_actions", "user": {"id": user, "team_id": TEAM_ID}, "team": {"id": TEAM_ID},
        "api_app_id": "A0SWARM0001", "token": "unused", "trigger_id": f"{time.time_ns()}.trigger",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "swarm"}, "message": {"ts": message_ts, "type": "message"},
        "response_url": "https://hooks.slack.invalid/actions/T/1/x",
        "actions": [{"action_id": action_id, "block_id": "approval", "value": job_id, "type": "button",
                     "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)}).encode()


async def _awaiting(swarm: Swarm, fake: SlackApiFake, text: str, trigger: str) -> tuple[str, str]:
    body = command_body(text, trigger)
    assert (await post(swarm, body, signed_headers(body)))[0] == 200
    await wait_for(
        lambda: any("blocks" in c and "swarm_approve" in str(c["blocks"]) for c in fake.calls("chat.postMessage"))
    )
    prompt = next(c for c in fake.log if c.method == "chat.postMessage" and "swarm_approve" in str(c.args["blocks"]))
    _, jobs = await swarm.api("GET", "/api/v1/jobs")
    job_id = next(j["id"] for j in jobs["jobs"] if j["tool"] in text)
    assert (await swarm.job(job_id))["status"] == "awaiting_approval"
    return job_id, str(prompt.response["ts"])


async def _click(swarm: Swarm, fake: SlackApiFake, user: str, action: str, job_id: str, ts: str) -> str:
    before = len(fake.calls("chat.postEphemeral"))
    body = click_body(user, action, job_id, ts)
    assert (await post(swarm, body, signed_headers(body)))[0] == 200
    await wait_for(lambda: len(fake.calls("chat.postEphemeral")) > before)
    answer = fake.calls("chat.postEphemeral")[-1]
    assert answer["user"] == user
    return str(answer["text"])


async def test_an_approver_approves_and_the_job_runs(approvals: tuple[Swarm, SlackApiFake]) -> None:
    swarm, fake = approvals
    job_id, prompt_ts = await _awaiting(swarm, fake, "tool demo.echo text=risky", "7.7.approve")
    refused = await _click(swarm, fake, STRANGER, "swarm_approve", job_id, prompt_ts)
    assert "Only approvers" in refused
    await asyncio.sleep(0.5)
    assert (await swarm.job(job_id))["status"] == "awaiting_approval", "a non-approver changes nothing"

    assert "approved" in await _click(swarm, fake, APPROVER, "swarm_approve", job_id, prompt_ts)
    job = await swarm.wait_job(job_id)
    assert job["status"] == "succeeded"
    decided = [e for e in job["events"] if e["kind"] == "approval_decided"]
    assert [(e["data"]["decision"], e["data"]["user_id"]) for e in decided] == [("approved", APPROVER)]

    again = await _click(swarm, fake, APPROVER, "swarm_deny", job_id, prompt_ts)
    assert "already decided" in again
    assert (await swarm.job(job_id))["status"] == "succeeded", "a second click changes nothing"

    await wait_for(lambda: any(u["ts"] == prompt_ts for u in fake.calls("chat.update")))
    final = [u for u in fake.calls("chat.update") if u["ts"] == prompt_ts][-1]
    assert "Approved by" in str(final["text"]) or "approved by" in str(final["text"])
    assert "swarm_approve" not in str(final["blocks"]), "the buttons are removed once decided"


async def test_a_member_of_an_approver_group_can_deny(approvals: tuple[Swarm, SlackApiFake]) -> None:
    swarm, fake = approvals
    job_id, prompt_ts = await _awaiting(swarm, fake, "tool demo.fail message=no", "8.8.deny")
    assert "denied" in await _click(swarm, fake, GROUP_MEMBER, "swarm_deny", job_id, prompt_ts)
    job = await swarm.wait_job(job_id)
    assert job["status"] == "cancelled" and "denied by" in job["error"]
    assert not [e for e in job["events"] if e["kind"] == "started"], "a denied job never runs"


async def test_an_approval_nobody_gives_times_out_as_denied(approvals: tuple[Swarm, SlackApiFake]) -> None:
    swarm, fake = approvals
    job_id, prompt_ts = await _awaiting(swarm, fake, "tool demo.echo text=wait", "9.9.timeout")
    job = await swarm.wait_job(job_id, timeout_s=20)
    assert job["status"] == "cancelled" and job["error"] == "denied by timeout"
    await wait_for(lambda: any(u["ts"] == prompt_ts and "swarm_approve" not in str(u["blocks"])
                               for u in fake.calls("chat.update")))  # fmt: skip
    late = await _click(swarm, fake, APPROVER, "swarm_approve", job_id, prompt_ts)
    assert "already decided" in late
