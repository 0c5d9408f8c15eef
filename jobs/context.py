"""The typed context hub-side tasks receive (instead of arq's untyped dict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis

from hub.settings import Settings


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    redis: ArqRedis


def context_of(ctx: dict[str, Any]) -> WorkerContext:
    context = ctx["gs"]
    assert isinstance(context, WorkerContext)
    return context
