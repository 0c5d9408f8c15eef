"""The fields of a Discord interaction the door reads, type-checked (strictly: an id is a string, a type an
integer) before any handler sees them; everything else Discord sends is ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SNOWFLAKE_MAX = 32
_INBOUND = ConfigDict(strict=True, extra="ignore", frozen=True)


class DiscordUser(BaseModel):
    id: str = Field(max_length=SNOWFLAKE_MAX)

    model_config = _INBOUND


class DiscordMember(BaseModel):
    user: DiscordUser | None = None
    roles: list[str] = Field(default_factory=list, max_length=500)

    model_config = _INBOUND


class DiscordChannel(BaseModel):
    id: str = Field(max_length=SNOWFLAKE_MAX)

    model_config = _INBOUND


class DiscordInteraction(BaseModel):
    """An interaction as POSTed to the interactions endpoint; ``data`` is checked by the handler of its type."""

    id: str = Field(default="", max_length=SNOWFLAKE_MAX)
    type: int
    token: str = Field(default="", max_length=1000)
    guild_id: str | None = Field(default=None, max_length=SNOWFLAKE_MAX)
    channel_id: str | None = Field(default=None, max_length=SNOWFLAKE_MAX)
    channel: DiscordChannel | None = None
    member: DiscordMember | None = None
    user: DiscordUser | None = None
    data: dict[str, Any] | None = None

    model_config = _INBOUND

    def user_id(self) -> str:
        """The signed identity: the member's user in a guild, the user in a DM."""
        user = (self.member.user if self.member else None) or self.user
        return user.id if user else ""

    def command_data(self) -> dict[str, Any]:
        return self.data or {}

    def role_ids(self) -> list[str]:
        return list(self.member.roles) if self.member else []

    def channel_ref(self) -> str:
        return self.channel_id or (self.channel.id if self.channel else "")
