"""The typed context hub-side tasks receive (instead of arq's untyped dict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arq.connections import ArqRedis

from bot.ports import ChatAdapter
from hub.services.jobs import JobServices
from hub.services.slack_installs import SlackWorkspaces
from hub.settings import Settings
from hub.storage import LocalStorage


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    redis: ArqRedis
    services: JobServices
    storage: LocalStorage
    workspaces: SlackWorkspaces
    adapters: Mapping[str, ChatAdapter] = field(default_factory=dict)  # by platform: "slack", "discord"


def context_of(ctx: dict[str, Any]) -> WorkerContext:
    context = ctx["gs"]
    assert isinstance(context, WorkerContext)
    return context
