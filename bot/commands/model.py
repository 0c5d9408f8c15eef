"""What a ``/swarm`` command asks for: one frozen dataclass per subcommand."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Subcommand(StrEnum):
    """The first word after ``/swarm``."""

    HELP = "help"
    TOOLS = "tools"
    WORKERS = "workers"
    TOOL = "tool"
    STATUS = "status"
    CANCEL = "cancel"
    RETRY = "retry"
    LOGIN = "login"


@dataclass(frozen=True)
class Help:
    """Show the help, or the help of one subcommand."""

    topic: str | None = None


@dataclass(frozen=True)
class ListTools:
    """List the tools the workers offer."""


@dataclass(frozen=True)
class ListWorkers:
    """List the workers and whether they are online."""


@dataclass(frozen=True)
class RunTool:
    """Run ``server.tool`` with JSON ``arguments``."""

    server: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        """The catalog key, ``server.tool``."""
        return f"{self.server}.{self.tool}"


@dataclass(frozen=True)
class JobStatus:
    """Show a job; ``job_ref`` is a full UUID or a hex prefix of one, in canonical (dashed) form."""

    job_ref: str


@dataclass(frozen=True)
class CancelJob:
    """Cancel a job; ``job_ref`` as in :class:`JobStatus`."""

    job_ref: str


@dataclass(frozen=True)
class RetryJob:
    """Retry by hand a job that failed, timed out or was cancelled; ``job_ref`` as in :class:`JobStatus`."""

    job_ref: str


@dataclass(frozen=True)
class Login:
    """Link the chat user to a GarageSwarm account."""


Command = Help | ListTools | ListWorkers | RunTool | JobStatus | CancelJob | RetryJob | Login
