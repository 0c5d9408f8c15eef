"""What bot.discord renders, sent through the strict Discord fake: every message and command is accepted."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.discord.commands import application_commands, autocomplete_choices
from bot.discord.components import (
    ApprovalDecision,
    RenderedResult,
    approval_message,
    decided_message,
    reply_message,
    result_message,
    status_message,
)
from bot.ports import (
    ApprovalPrompt,
    Attachment,
    AttachmentKind,
    ChatReply,
    JobState,
    Progress,
    ResultMessage,
    StatusMessage,
)
from tests.bot.discord.conftest import DiscordApi
from tests.fakes.discord_api import APPLICATION_ID, DiscordApiFake

JOB_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CHANNEL = "1200000000000000010"
TOKEN = "aW50ZXJhY3Rpb24tdG9rZW4tZm9yLXRlc3Rz"
FOLLOW_UP = f"/webhooks/{APPLICATION_ID}/{TOKEN}"
CALLBACK = f"/interactions/1200000000000000099/{TOKEN}/callback"
PROMPT = ApprovalPrompt(JOB_ID, "shell.run", {"command": "make release", "env": {"CI": True}}, "<@81234567890>", "ops")
LONG = "".join(f"{i:05} a line of tool output with `code` and @everyone\n" for i in range(3_000))


def form(rendered: RenderedResult) -> aiohttp.FormData:
    """The multipart body for a rendered result with files (``quote_fields=False`` keeps ``files[0]`` as is)."""
    data = aiohttp.FormData(quote_fields=False)
    for part in rendered.form_parts():
        data.add_field(part.name, part.value, content_type=part.content_type, filename=part.filename)
    return data


async def send(api: DiscordApi, method: str, path: str, rendered: RenderedResult) -> tuple[int, Any]:
    """Send a rendered result as JSON, or as multipart when it carries files."""
    bot = path.startswith("/channels")
    if rendered.files:
        return await api.request(method, path, bot=bot, data=form(rendered))
    return await api.request(method, path, bot=bot, json=rendered.payload)


async def answer(api: DiscordApi, kind: int, data: dict[str, Any] | None = None) -> tuple[int, Any]:
    return await api.request("POST", CALLBACK, bot=False, json={"type": kind, **({"data": data} if data else {})})


STATUSES = [
    StatusMessage(JOB_ID, "demo.progress", JobState.QUEUED),
    StatusMessage(JOB_ID, "demo.progress", JobState.RUNNING, Progress(3, 10, "step 3"), "sampling", 2.5, "gpu-1"),
    StatusMessage(JOB_ID, "demo.progress", JobState.RUNNING, Progress(7), "s" * 3_000, 9e9, "w" * 2_000),
    StatusMessage(JOB_ID, "t" * 300, JobState.RUNNING, Progress(1, 2, "m" * 10_000)),
    StatusMessage(JOB_ID, "demo.progress", JobState.SUCCEEDED, elapsed_s=12.0),
]

IMAGES = [
    Attachment(
        f"image-{i}.png", "image/png", 10**i, f"https://cdn.example.com/{'p' * 200}/{i}.png", AttachmentKind.IMAGE
    )
    for i in range(12)
]
RESULTS = [
    ResultMessage(JOB_ID, "demo.echo", True, "hello"),
    ResultMessage(JOB_ID, "demo.echo", True, ""),
    ResultMessage(JOB_ID, "demo.echo", False, "", error="worker went away"),
    ResultMessage(JOB_ID, "demo.echo", True, "", structured={"k": ["v"] * 2_000}),
    ResultMessage(JOB_ID, "demo.echo", True, LONG),
    ResultMessage(JOB_ID, "demo.echo", False, LONG, error="Traceback\n" * 2_000, duration_s=4000),
    ResultMessage(JOB_ID, "t" * 300, True, "x" * 4_096, attachments=IMAGES),
]


@pytest.mark.parametrize("status", STATUSES)
async def test_status_messages_are_posted_and_edited_in_a_channel(
    discord_api: DiscordApi, status: StatusMessage
) -> None:
    posted, message = await discord_api.request("POST", f"/channels/{CHANNEL}/messages", json=status_message(status))
    edited, _ = await discord_api.request(
        "PATCH", f"/channels/{CHANNEL}/messages/{message['id']}", json=status_message(STATUSES[-1])
    )

    assert (posted, edited) == (200, 200)
    assert discord_api.fake.messages[message["id"]]["embeds"][0]["title"] == "demo.progress: succeeded"


@pytest.mark.parametrize("status", STATUSES)
async def test_status_messages_answer_an_interaction_and_edit_the_original(
    discord_api: DiscordApi, status: StatusMessage
) -> None:
    assert (await answer(discord_api, 4, status_message(STATUSES[0])))[0] == 204
    edited, message = await discord_api.request(
        "PATCH", f"{FOLLOW_UP}/messages/@original", bot=False, json=status_message(status)
    )

    assert edited == 200 and message["embeds"][0]["footer"]["text"] == "job 1b4e28ba"


@pytest.mark.parametrize("result", RESULTS)
@pytest.mark.parametrize(
    ("method", "path", "needs_answer"),
    [
        ("POST", f"/channels/{CHANNEL}/messages", False),
        ("POST", f"{FOLLOW_UP}?wait=true", True),
        ("PATCH", f"{FOLLOW_UP}/messages/@original", True),
    ],
)
async def test_results_are_accepted_with_their_files(
    discord_api: DiscordApi, result: ResultMessage, method: str, path: str, needs_answer: bool
) -> None:
    if needs_answer:
        await answer(discord_api, 5)
    rendered = result_message(result)

    status, message = await send(discord_api, method, path, rendered)

    assert status == 200, message
    assert [a["filename"] for a in message["attachments"]] == [file.name for file in rendered.files]
    uploaded = discord_api.fake.calls[-1].files
    assert [(file.filename, file.data) for file in uploaded] == [(file.name, file.data) for file in rendered.files]


async def test_a_long_result_loses_nothing(discord_api: DiscordApi) -> None:
    result = ResultMessage(JOB_ID, "demo.echo", False, LONG, error="E" * 7_000)

    status, _ = await send(discord_api, "POST", f"/channels/{CHANNEL}/messages", result_message(result))

    uploaded = {file.filename: file.data.decode() for file in discord_api.fake.calls[-1].files}
    assert status == 200 and uploaded == {"1b4e28ba-error.txt": "E" * 7_000, "1b4e28ba-output.txt": LONG}


async def test_an_approval_is_posted_then_decided(discord_api: DiscordApi) -> None:
    posted, message = await discord_api.request("POST", f"/channels/{CHANNEL}/messages", json=approval_message(PROMPT))
    decided = decided_message(PROMPT, ApprovalDecision.APPROVE, "81234567890")
    edited, after = await discord_api.request("PATCH", f"/channels/{CHANNEL}/messages/{message['id']}", json=decided)

    assert (posted, edited) == (200, 200)
    assert [b["custom_id"] for b in message["components"][0]["components"]] == [
        f"swarm:approve:{JOB_ID}",
        f"swarm:deny:{JOB_ID}",
    ]
    assert after["components"] == [] and after["content"] == "Approved by <@81234567890>"


async def test_a_click_is_answered_by_updating_the_prompt(discord_api: DiscordApi) -> None:
    decided = decided_message(PROMPT, ApprovalDecision.DENY, "81234567890")

    assert (await answer(discord_api, 7, decided))[0] == 204


async def test_an_approval_with_huge_arguments_is_accepted(discord_api: DiscordApi) -> None:
    prompt = ApprovalPrompt(JOB_ID, "t" * 300, {"text": "```" * 3_000, "n": list(range(2_000))}, "r" * 500, "h" * 2_000)

    status, _ = await discord_api.request("POST", f"/channels/{CHANNEL}/messages", json=approval_message(prompt))

    assert status == 200


@pytest.mark.parametrize(
    "reply",
    [ChatReply("Usage: /swarm COMMAND", ephemeral=True), ChatReply("z" * 2_001), ChatReply("line\n" * 3_000, True)],
)
async def test_replies_answer_interactions_and_follow_up(discord_api: DiscordApi, reply: ChatReply) -> None:
    assert (await answer(discord_api, 4, reply_message(reply)))[0] == 204
    status, message = await discord_api.request("POST", f"{FOLLOW_UP}?wait=true", bot=False, json=reply_message(reply))

    assert status == 200 and message["flags"] == (64 if reply.ephemeral else 0)


@pytest.mark.parametrize("reply", [ChatReply("Unknown command 'tol'", ephemeral=True), ChatReply("w" * 9_000)])
def test_replies_are_valid_inline_answers(reply: ChatReply) -> None:
    message = DiscordApiFake().record_answer(TOKEN, {"type": 4, "data": reply_message(reply)})

    assert message is not None and message["flags"] == (64 if reply.ephemeral else 0)


@pytest.mark.parametrize("guild", [None, "1200000000000000020"])
async def test_the_swarm_command_is_registered(discord_api: DiscordApi, guild: str | None) -> None:
    where = f"/guilds/{guild}" if guild else ""
    path = f"/applications/{APPLICATION_ID}{where}/commands"

    status, commands = await discord_api.request("PUT", path, json=application_commands())

    assert status == 200 and [command["name"] for command in commands] == ["swarm"]
    assert discord_api.fake.commands[guild] == commands


async def test_autocomplete_choices_answer_an_autocomplete_interaction(discord_api: DiscordApi) -> None:
    names = [f"server{i}.{'tool' * 20}{i}" for i in range(60)] + ["demo.echo"]

    status, _ = await answer(discord_api, 8, {"choices": autocomplete_choices("", names)})

    assert status == 204 and len(discord_api.fake.calls[-1].json["data"]["choices"]) == 25
