"""The Discord adapter against the strict fake: interaction webhooks while the token lives, the bot token after."""

from __future__ import annotations

import pytest

from bot.discord.adapter import DiscordAdapter, interaction_of, interaction_thread
from bot.discord.commands import application_commands
from bot.ports import (
    ApprovalPrompt,
    Attachment,
    AttachmentKind,
    ChatDeliveryError,
    ChatRateLimited,
    ChatReply,
    JobState,
    Progress,
    ResultMessage,
    StatusMessage,
    ThreadRef,
)
from tests.bot.discord.conftest import DiscordApi
from tests.fakes.discord_api import APPLICATION_ID, BOT_TOKEN, INTERACTION_CHANNEL_ID

JOB_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
TOKEN = "aW50ZXJhY3Rpb24tdG9rZW4tZm9yLWFkYXB0ZXI"
NOW = 1_800_000_000.0
PROMPT = ApprovalPrompt(JOB_ID, "demo.echo", {"text": "risky"}, "discord:1:2")
RUNNING = StatusMessage(JOB_ID, "demo.progress", JobState.RUNNING, Progress(3, 10, "step 3"))
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
IMAGE = Attachment("out.png", "image/png", len(PNG), "out.png", AttachmentKind.IMAGE, alt_text="a picture")


def adapter(api: DiscordApi, *, now: float = NOW, bot_token: str = BOT_TOKEN) -> DiscordAdapter:
    return DiscordAdapter(api.base_url, APPLICATION_ID, bot_token, session=api.session, clock=lambda: now)


def interaction(api: DiscordApi) -> ThreadRef:
    """A thread started by a /swarm interaction that the hub answered "deferred"."""
    api.fake.record_answer(TOKEN, {"type": 5})
    return ThreadRef("discord", INTERACTION_CHANNEL_ID, interaction_thread(TOKEN, NOW - 60), "1")


def test_the_interaction_travels_in_the_thread_reference() -> None:
    found = interaction_of(interaction_thread("tok:en", 1234.9))
    assert found is not None and (found.token, found.received_at) == ("tok:en", 1234.0)
    assert interaction_of("1200000000000000001") is None and interaction_of(None) is None


async def test_a_job_reports_through_its_interaction(discord_api: DiscordApi) -> None:
    discord, thread = adapter(discord_api), interaction(discord_api)

    status_id = await discord.post_status(thread, StatusMessage(JOB_ID, "demo.progress", JobState.QUEUED))
    await discord.update_status(thread, status_id, RUNNING)
    await discord.post_attachment(thread, IMAGE, PNG)
    await discord.post_result(thread, ResultMessage(JOB_ID, "demo.progress", True, "x" * 9_000))

    fake = discord_api.fake
    assert status_id == fake.originals[TOKEN], "the deferred answer became the status message"
    assert fake.messages[status_id]["embeds"][0]["title"] == "demo.progress: running"
    image, result = fake.calls_to("POST", "/webhooks/{a}/{b}")
    assert [(f.filename, f.data) for f in image.files] == [("out.png", PNG)]
    assert [f.filename for f in result.files] == ["1b4e28ba-output.txt"] and result.query == {"wait": "true"}
    assert not [c for c in fake.calls if "Authorization" in c.headers], "no bot token needed while the token lives"


async def test_after_fourteen_minutes_the_bot_posts_in_the_channel(discord_api: DiscordApi) -> None:
    thread = interaction(discord_api)
    status_id = await adapter(discord_api).post_status(thread, RUNNING)
    later = adapter(discord_api, now=NOW + 14 * 60)

    await later.update_status(thread, status_id, StatusMessage(JOB_ID, "demo.progress", JobState.SUCCEEDED))
    await later.post_result(thread, ResultMessage(JOB_ID, "demo.progress", True, "done"))

    fake = discord_api.fake
    (edit,) = fake.calls_to("PATCH", "/channels/{c}/messages/{m}")
    (post,) = fake.calls_to("POST", "/channels/{c}/messages")
    assert edit.status == post.status == 200
    assert edit.headers["Authorization"] == post.headers["Authorization"] == f"Bot {BOT_TOKEN}"
    assert fake.messages[status_id]["embeds"][0]["title"] == "demo.progress: succeeded"


async def test_a_job_without_an_interaction_replies_to_its_status_message(discord_api: DiscordApi) -> None:
    discord = adapter(discord_api)
    status_id = await discord.post_status(ThreadRef("discord", "1300000000000000001"), RUNNING)
    thread = ThreadRef("discord", "1300000000000000001", status_id)

    approval_id = await discord.post_approval(thread, PROMPT)
    await discord.decide_approval(thread, approval_id, PROMPT, "denied", "timeout")

    post = discord_api.fake.calls_to("POST", "/channels/{c}/messages")[-1]
    assert post.json["message_reference"] == {"message_id": status_id, "fail_if_not_exists": False}
    decided = discord_api.fake.messages[approval_id]
    assert decided["content"] == "Denied by timeout" and decided["components"] == []


async def test_an_approval_is_decided_in_place_through_the_interaction(discord_api: DiscordApi) -> None:
    discord, thread = adapter(discord_api), interaction(discord_api)

    approval_id = await discord.post_approval(thread, PROMPT)
    await discord.decide_approval(thread, approval_id, PROMPT, "approved", "81234567890")

    message = discord_api.fake.messages[approval_id]
    assert message["content"] == "Approved by <@81234567890>" and message["components"] == []


async def test_an_answer_replaces_the_thinking_message(discord_api: DiscordApi) -> None:
    discord, thread = adapter(discord_api), interaction(discord_api)

    await discord.answer(thread, ChatReply("Tools:\n• demo.echo", ephemeral=True))

    assert discord_api.fake.messages[discord_api.fake.originals[TOKEN]]["content"] == "Tools:\n• demo.echo"


async def test_a_429_is_a_rate_limit_with_discords_retry_after(discord_api: DiscordApi) -> None:
    discord_api.fake.rate_limit_next("POST", "/channels/{c}/messages", retry_after_s=0.75)

    with pytest.raises(ChatRateLimited) as limited:
        await adapter(discord_api).post_status(ThreadRef("discord", "1300000000000000001"), RUNNING)

    assert limited.value.retry_after_s == 0.75


async def test_refusals_are_delivery_errors(discord_api: DiscordApi) -> None:
    with pytest.raises(ChatDeliveryError, match="401"):
        await adapter(discord_api, bot_token="wrong").post_status(ThreadRef("discord", "1300000000000000001"), RUNNING)
    with pytest.raises(ChatDeliveryError, match="404"):
        await adapter(discord_api).update_status(ThreadRef("discord", "1300000000000000001"), "1399", RUNNING)
    stale = ThreadRef("discord", INTERACTION_CHANNEL_ID, interaction_thread("never-answered", NOW))
    with pytest.raises(ChatDeliveryError, match="Unknown Webhook"):
        await adapter(discord_api).reply(stale, ChatReply("hi"))


@pytest.mark.parametrize("guild", [None, "1200000000000000020"])
async def test_commands_are_registered_globally_or_in_a_guild(discord_api: DiscordApi, guild: str | None) -> None:
    saved = await adapter(discord_api).register_commands(application_commands(), guild)

    assert [c["name"] for c in saved] == ["swarm"] and discord_api.fake.commands[guild] == saved
