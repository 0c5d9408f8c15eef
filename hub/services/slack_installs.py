"""Slack workspaces: which bot token and which tenant belong to a team.

Single-workspace mode uses ``SLACK_BOT_TOKEN`` and the default tenant. With OAuth installs each
workspace stored in ``slack_installations`` is its own tenant, its token encrypted at rest."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from hub.db.models import SlackInstallation
from hub.security.crypto import SecretBox
from hub.services.admin import chat_tenant, chat_tenant_slug, ensure_tenant
from hub.settings import Settings

TOKEN_CACHE_TTL_S = 60.0
MISS_CACHE_TTL_S = 5.0  # a workspace installed through another hub process is seen within seconds
TENANT_CACHE_TTL_S = 5.0  # likewise for the tenant an installation moves a workspace to


class SlackWorkspaces:
    """Token and tenant lookups by team id, cached briefly."""

    def __init__(self, settings: Settings) -> None:
        self.single_token = settings.slack_bot_token.get() if settings.slack_bot_token else None
        self.box = SecretBox(settings.secret_key.get(), "slack-token") if settings.secret_key else None
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._tenants: dict[str, tuple[float, UUID]] = {}

    async def token_for(self, team_id: str | None) -> str | None:
        """The bot token to use for ``team_id``: the installation's, else the single-workspace token."""
        if team_id:
            cached = self._cache.get(team_id)
            ttl_s = TOKEN_CACHE_TTL_S if cached is not None and cached[1] is not None else MISS_CACHE_TTL_S
            if cached is not None and time.monotonic() - cached[0] < ttl_s:
                return cached[1]
            installation = await SlackInstallation.get_or_none(team_id=team_id)
            token = self.single_token
            if installation is not None and self.box is not None:
                token = self.box.decrypt(installation.bot_token_encrypted)
            self._cache[team_id] = (time.monotonic(), token)  # misses too: the ack path asks on every request
            return token
        return self.single_token

    async def tenant_for(self, team_id: str) -> UUID:
        """The workspace's tenant, cached for a few seconds (every command asks)."""
        cached = self._tenants.get(team_id)
        if cached is not None and time.monotonic() - cached[0] < TENANT_CACHE_TTL_S:
            return cached[1]
        installation = await SlackInstallation.get_or_none(team_id=team_id).only("tenant_id")
        if installation is not None:
            tenant_id: UUID = installation.tenant_id  # type: ignore[attr-defined]
        else:
            tenant_id = await chat_tenant("slack", team_id)
        self._tenants[team_id] = (time.monotonic(), tenant_id)
        return tenant_id

    async def save(self, oauth_response: dict[str, Any]) -> SlackInstallation:
        """Store (or refresh) a workspace's installation from an oauth.v2.access answer."""
        if self.box is None:
            raise RuntimeError("GARAGESWARM_SECRET_KEY is not set: cannot store installation tokens")
        team = oauth_response.get("team") or {}
        team_id, team_name = str(team.get("id", "")), str(team.get("name", ""))
        tenant = await ensure_tenant(chat_tenant_slug("slack", team_id))
        values = {
            "tenant_id": tenant.id, "team_name": team_name,
            "enterprise_id": (oauth_response.get("enterprise") or {}).get("id"),
            "app_id": str(oauth_response.get("app_id", "")), "bot_user_id": str(oauth_response.get("bot_user_id", "")),
            "bot_scopes": str(oauth_response.get("scope", "")),
            "bot_token_encrypted": self.box.encrypt(str(oauth_response["access_token"])),
            "installer_user_id": str((oauth_response.get("authed_user") or {}).get("id", "")),
        }  # fmt: skip
        installation, _ = await SlackInstallation.update_or_create(defaults=values, team_id=team_id)
        self._cache.pop(team_id, None)
        self._tenants.pop(team_id, None)
        return installation
