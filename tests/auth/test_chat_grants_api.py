"""Admins manage chat grants through the people API; the configured ones follow the settings, every change is
audited, and nobody else may touch them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.db.auth_models import AuditEntry
from hub.services import admin
from tests.auth.helpers import sign_in, sso_settings
from tests.fakes.oidc_provider import OidcProviderFake

AiohttpClient = Any
CONFIGURED_USER, CONFIGURED_ROLE = "U0CONFIG01", "1800000000000000001"
GROUP = {"platform": "slack", "team_id": "T0GARAGE01", "subject_kind": "group", "subject_id": "S0LEADS001"}


@pytest.fixture
async def hub(
    aiohttp_client: AiohttpClient, tmp_path: Path, database_url: str, redis_url: str, provider: OidcProviderFake,
    orm: None,
) -> TestClient:  # fmt: skip
    settings = sso_settings(tmp_path, database_url, redis_url, provider.issuer, SLACK_APPROVERS=CONFIGURED_USER,
                            DISCORD_APPROVERS=CONFIGURED_ROLE)  # fmt: skip
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def automation() -> dict[str, str]:
    return {"Authorization": f"Bearer {(await admin.add_token('ci', ['jobs'])).key}"}


async def _grants(hub: TestClient, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    listed = await hub.get(f"/api/v1/chat-grants{query}", headers=headers)
    assert listed.status == 200, await listed.text()
    return list((await listed.json())["grants"])


async def test_the_configured_approvers_are_listed_as_grants_when_the_hub_starts(
    hub: TestClient, automation: dict[str, str]
) -> None:
    grants = await _grants(hub, automation)
    assert [(g["platform"], g["team_id"], g["subject_kind"], g["subject_id"], g["role"], g["source"],
             g["granted_by"]) for g in grants] == [
        ("discord", "", "user_or_role", CONFIGURED_ROLE, "approver", "config", "config"),
        ("slack", "", "user", CONFIGURED_USER, "approver", "config", "config"),
    ]  # fmt: skip
    assert [g["platform"] for g in await _grants(hub, automation, "?platform=slack")] == ["slack"]


async def test_an_admin_adds_and_removes_a_chat_grant_and_each_change_is_audited(
    hub: TestClient, automation: dict[str, str]
) -> None:
    added = await hub.post("/api/v1/chat-grants", json=GROUP, headers=automation)
    assert added.status == 201, await added.text()
    grant = await added.json()
    assert (grant["team_id"], grant["role"], grant["source"]) == ("T0GARAGE01", "approver", "api")
    assert grant["granted_by"].startswith("token:")
    again = await hub.post("/api/v1/chat-grants", json=GROUP, headers=automation)
    assert again.status == 200 and (await again.json())["id"] == grant["id"]
    assert grant["id"] in [g["id"] for g in await _grants(hub, automation)]
    removed = await hub.delete(f"/api/v1/chat-grants/{grant['id']}", headers=automation)
    assert removed.status == 200 and (await removed.json())["id"] == grant["id"]
    assert (await hub.delete(f"/api/v1/chat-grants/{grant['id']}", headers=automation)).status == 404
    entries = await AuditEntry.filter(source="api").order_by("id")
    assert [(e.action, e.target, e.data) for e in entries] == [
        (
            "role_granted",
            "slack:T0GARAGE01:group:S0LEADS001",
            {"role": "approver", "chat_grant": grant["id"], "source": "api"},
        ),
        (
            "role_revoked",
            "slack:T0GARAGE01:group:S0LEADS001",
            {"role": "approver", "chat_grant": grant["id"], "source": "api"},
        ),
    ]
    assert all(e.actor == grant["granted_by"] for e in entries)


async def test_a_configured_grant_cannot_be_removed_through_the_api(
    hub: TestClient, automation: dict[str, str]
) -> None:
    configured = (await _grants(hub, automation, "?platform=slack"))[0]
    refused = await hub.delete(f"/api/v1/chat-grants/{configured['id']}", headers=automation)
    assert refused.status == 409 and "SLACK_APPROVERS" in (await refused.json())["error"]["message"]
    assert len(await _grants(hub, automation)) == 2


@pytest.mark.parametrize(
    "body",
    [{**GROUP, "subject_id": "U0NOTAGROUP"}, {**GROUP, "subject_kind": "role"}, {**GROUP, "role": "admin"},
     {"platform": "discord", "team_id": "1200000000000000020", "subject_kind": "role", "subject_id": "leads"},
     {**GROUP, "team_id": "T 1"}, {**GROUP, "team_id": ""}],
)  # fmt: skip
async def test_a_malformed_chat_grant_is_refused(
    hub: TestClient, automation: dict[str, str], body: dict[str, str]
) -> None:
    refused = await hub.post("/api/v1/chat-grants", json=body, headers=automation)
    assert refused.status == 422, await refused.text()
    assert len(await _grants(hub, automation)) == 2
    assert not await AuditEntry.filter(source="api").exists()


async def test_only_admins_see_or_change_chat_grants(hub: TestClient, provider: OidcProviderFake) -> None:
    provider.user = {"sub": "op-1", "email": "op@example.com", "name": "Op", "groups": ["swarm-ops", "swarm-approvers"]}
    assert (await sign_in(hub)).status == 303
    assert (await hub.get("/api/v1/chat-grants")).status == 403
    assert (await hub.post("/api/v1/chat-grants", json=GROUP)).status == 403
    hub.session.cookie_jar.clear()
    assert (await hub.get("/api/v1/chat-grants")).status == 401
    provider.user = {"sub": "boss-1", "email": "boss@example.com", "name": "Boss", "groups": ["swarm-admins"]}
    assert (await sign_in(hub)).status == 303
    added = await hub.post("/api/v1/chat-grants", json=GROUP)
    assert added.status == 201 and (await added.json())["granted_by"].startswith("user:")


async def test_an_admin_cannot_grant_in_a_workspace_of_another_tenant(
    hub: TestClient, automation: dict[str, str]
) -> None:
    await admin.ensure_tenant(admin.chat_tenant_slug("slack", "T0OTHERCO1"))  # a workspace with its own tenant
    refused = await hub.post("/api/v1/chat-grants", json={**GROUP, "team_id": "T0OTHERCO1"}, headers=automation)
    assert refused.status == 403 and "another tenant" in (await refused.json())["error"]["message"]
    assert len(await _grants(hub, automation)) == 2
    assert not await AuditEntry.filter(source="api").exists()
