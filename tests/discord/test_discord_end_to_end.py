"""Discord end to end: signed interactions → the hub → a job on a real agent → the thread through the
interaction's webhook, against a strict fake of Discord's API."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from hub.db.models import Job, Worker
from hub.services import admin
from hub.services.admin import chat_tenant, chat_tenant_slug
from tests.discord.conftest import Discord, wait_for
from tests.discord.support import USER, interaction, post, signed, swarm
from tests.fakes.discord_api import GUILD_ID
from tests.harness import demo_stdio_config

pytestmark = pytest.mark.timeout(90)
FOLLOW_UP = "/webhooks/{a}/{b}"
ORIGINAL = "/webhooks/{a}/{b}/messages/@original"
EDIT = "/webhooks/{a}/{b}/messages/{m}"


async def test_a_slash_command_defers_then_shows_progress_the_image_and_the_result(discord: Discord) -> None:
    fake = discord.fake
    command = interaction(2, swarm("tool", name="demo.image", args='width=16 height=16 text="hi"'))

    status, answer, elapsed = await discord.interact(command)

    assert status == 200 and answer == {"type": 5} and elapsed < 3.0
    await wait_for(lambda: any("succeeded in" in json.dumps(c.json) for c in fake.calls_to("POST", FOLLOW_UP)))
    status_message = fake.messages[fake.originals[command["token"]]]
    assert status_message["embeds"][0]["title"] == "demo.image: succeeded", "the deferred answer is the status"
    image, result = [c for c in fake.calls_to("POST", FOLLOW_UP) if c.status == 200]
    assert image.files[0].filename.endswith(".png") and image.files[0].data[:4] == b"\x89PNG"
    assert result.json["embeds"][0]["title"].startswith("demo.image succeeded in")
    assert all(c.query == {"wait": "true"} for c in (image, result))
    (job,) = await discord.jobs()
    assert (job["origin"], job["requester"], job["status"]) == ("discord", f"discord:{GUILD_ID}:{USER}", "succeeded")


async def test_progress_edits_the_status_in_place_about_once_a_second_and_waits_out_a_429(discord: Discord) -> None:
    fake = discord.fake
    fake.rate_limit_next("PATCH", ORIGINAL, times=1, retry_after_s=0.5)
    started = time.monotonic()

    await discord.interact(interaction(2, swarm("tool", name="demo.progress", args="steps=40 delay_s=0.05")))

    await wait_for(lambda: any(c.status == 200 for c in fake.calls_to("POST", FOLLOW_UP)))
    elapsed = time.monotonic() - started
    edits = [c for c in fake.calls if c.method == "PATCH" and c.template and c.template.startswith("/webhooks/")]
    assert [c.status for c in edits[:2]] == [429, 200], "the 429 was waited out, then the status posted"
    assert {c.params.get("message_id", "@original") for c in edits[1:]} <= {"@original", edits[1].response["id"]}
    assert len(edits) <= elapsed + 3, f"{len(edits)} edits in {elapsed:.1f} s: not coalesced"
    titles = [c.json["embeds"][0]["title"] for c in edits if c.status == 200]
    assert titles[-1] == "demo.progress: succeeded"
    assert any("%" in c.json["embeds"][0].get("description", "") for c in edits[1:]), "no progress bar shown"


async def test_the_door_refuses_forgeries_runs_repeats_once_and_answers_other_commands(discord: Discord) -> None:
    fake, url = discord.fake, discord.swarm.url
    command = interaction(2, swarm("tool", name="demo.echo", args="text=once"))
    body = json.dumps(command).encode()
    forged = [
        (body.replace(b"once", b"twice"), signed(body)),  # tampered body
        (body, {**signed(body), "X-Signature-Timestamp": str(int(time.time()) + 1)}),  # tampered timestamp
        (body, {**signed(body), "X-Signature-Ed25519": "00" * 64}),  # another signature
        (body, signed(body, int(time.time()) - 600)),  # stale
        (body, {"Content-Type": "application/json"}),  # unsigned
    ]
    for forged_body, headers in forged:
        assert (await post(url, forged_body, headers))[0] == 401
    assert await discord.jobs() == [] and fake.calls == [], "a refused interaction changes nothing"

    for _ in range(3):
        assert (await discord.interact(command))[:2] == (200, {"type": 5})
    await wait_for(lambda: bool(fake.calls_to("POST", FOLLOW_UP)))
    assert len(await discord.jobs()) == 1, "a repeated interaction runs once"

    help_command = interaction(2, swarm("help"))
    assert (await discord.interact(help_command))[1] == {"type": 5, "data": {"flags": 64}}, "only the asker sees it"
    typo = interaction(2, swarm("tool", name="demo.ecko", args="text=x"))
    await discord.interact(typo)
    originals = [fake.originals[c["token"]] for c in (help_command, typo)]
    await wait_for(lambda: all(fake.messages[m]["content"] for m in originals))
    assert "tool SERVER.TOOL" in fake.messages[originals[0]]["content"]
    assert "demo.echo" in fake.messages[originals[1]]["content"], "the closest names are suggested"
    assert len(await discord.jobs()) == 1

    typing = swarm("tool", name="demo.ec")
    typing["options"][0]["options"][0]["focused"] = True
    _, answer, _ = await discord.interact(interaction(4, typing))
    assert answer == {"type": 8, "data": {"choices": [{"name": "demo.echo", "value": "demo.echo"}]}}
    assert (await post(url, {"type": 1}))[1] == {"type": 1}


async def test_refusals_are_logged_on_the_job_and_the_worker_carries_on(discord: Discord) -> None:
    lost = interaction(2, swarm("tool", name="demo.echo", args="text=lost"))
    assert (await post(discord.swarm.url, lost))[1] == {"type": 5}  # Discord never learns of this answer

    await wait_for(lambda: bool(discord.fake.calls_to("PATCH", ORIGINAL)))
    (job,) = await discord.jobs()
    job = await discord.swarm.wait_job(job["id"])
    assert job["status"] == "succeeded", "a chat refusal does not fail the job"
    for _ in range(100):
        logs = [e["data"]["message"] for e in (await discord.swarm.job(job["id"]))["events"] if e["kind"] == "log"]
        if logs:
            break
        await asyncio.sleep(0.1)
    assert any("discord refused" in message and "Unknown Webhook" in message for message in logs), logs

    help_command = interaction(2, swarm("help"))
    await discord.interact(help_command)
    await wait_for(lambda: bool(discord.fake.messages[discord.fake.originals[help_command["token"]]]["content"]))


async def test_a_guild_with_its_own_tenant_runs_on_its_own_agents(discord: Discord) -> None:
    hub = discord.swarm
    issued = await admin.add_worker("guild-agent", {}, tenant_slug=chat_tenant_slug("discord", GUILD_ID))
    config = hub.workdir / "guild-agent.toml"
    config.write_text(demo_stdio_config())
    hub.spawn("agent-guild", "agent", "--config", str(config), GARAGESWARM_API_KEY=issued.key)
    for _ in range(300):
        if await Worker.filter(name="guild-agent", status="online").exclude(tools=[]).exists():
            break
        await asyncio.sleep(0.1)
    command = interaction(2, swarm("tool", name="demo.echo", args="text=guild"))
    await discord.interact(command)
    job = None
    for _ in range(300):
        job = await Job.get_or_none(idempotency_key=f"discord:{command['id']}")
        if job is not None and job.status.finished:
            break
        await asyncio.sleep(0.1)
    assert job is not None and job.status.value == "succeeded", job
    assert job.tenant_id == await chat_tenant("discord", GUILD_ID)  # type: ignore[attr-defined]
    worker = await Worker.get(id=job.worker_id)  # type: ignore[attr-defined]
    assert worker.name == "guild-agent", "the guild's job ran on the guild's own agent"
