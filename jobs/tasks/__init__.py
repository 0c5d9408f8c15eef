"""Hub-side arq tasks, one module each."""

from __future__ import annotations

from typing import Any

from arq import func

from .approvals import approval_timeout, slack_approval_click
from .discord import discord_command
from .notify import notify_thread
from .slack import slack_command, slack_mention
from .webhooks import deliver_webhook, process_hook_delivery

HUB_TASKS: list[Any] = [
    func(notify_thread, name="notify_thread"),
    func(slack_command, name="slack_command"),
    func(slack_mention, name="slack_mention"),
    func(slack_approval_click, name="slack_approval_click"),
    func(approval_timeout, name="approval_timeout"),
]
HUB_TASKS += [func(discord_command, name="discord_command")]
HUB_TASKS += [func(process_hook_delivery, name="process_hook_delivery"), func(deliver_webhook, name="deliver_webhook")]
