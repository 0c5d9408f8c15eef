"""Roles enforced on the REST doors, people's API tokens, grants and the audit log."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from asyncpg.exceptions import RaiseError

from hub.app import create_app
from hub.db.auth_models import AuditEntry
from hub.services import admin
from tests.auth.helpers import sign_in, sso_settings
from tests.fakes.oidc_provider import OidcProviderFake

AiohttpClient = Any
ECHO_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}}
TOOLS = {"tools": [
    {"name": "demo.echo", "description": "Echo", "input_schema": ECHO_SCHEMA},
    {"name": "git.git_commit", "description": "Commit", "input_schema": {"type": "object"}},
]}  # fmt: skip
_people = itertools.count()


@pytest.fixture
async def doors(
    aiohttp_client: AiohttpClient, tmp_path: Path, database_url: str, redis_url: str, provider: OidcProviderFake,
    orm: None,
) -> TestClient:  # fmt: skip
    settings = sso_settings(tmp_path, database_url, redis_url, provider.issuer, GARAGESWARM_APPROVAL_TOOLS="git.*")
    client = await aiohttp_client(create_app(settings))
    worker = await admin.add_worker("garage-1", {})
    registered = await client.post("/api/v1/agent/register", json=TOOLS, headers=_bearer(worker.key))
    assert registered.status == 200
    return client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _sign_in_as(hub: TestClient, provider: OidcProviderFake, groups: list[str]) -> str:
    n = next(_people)
    provider.user = {"sub": f"person-{n}", "email": f"p{n}@example.com", "name": f"P{n}", "groups": groups}
    hub.session.cookie_jar.clear()
    assert (await sign_in(hub)).status == 303
    return str((await (await hub.get("/api/v1/me")).json())["id"])


async def _token(hub: TestClient, provider: OidcProviderFake, groups: list[str], scopes: list[str]) -> str:
    await _sign_in_as(hub, provider, groups)
    created = await hub.post("/api/v1/tokens", json={"name": "t", "scopes": scopes})
    assert created.status == 201, await created.text()
    hub.session.cookie_jar.clear()
    return str((await created.json())["token"])


async def _job(hub: TestClient, key: str, tool: str = "demo.echo") -> Any:
    arguments = {"text": "hi"} if tool == "demo.echo" else {}
    return await hub.post("/api/v1/jobs", json={"tool": tool, "arguments": arguments}, headers=_bearer(key))


async def test_an_operator_runs_matching_tools_only(doors: TestClient, provider: OidcProviderFake) -> None:
    operator = await _token(doors, provider, ["swarm-ops"], ["run", "read"])  # swarm-ops: operator on demo.*
    assert (await _job(doors, operator)).status == 201
    refused = await _job(doors, operator, "git.git_commit")
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "forbidden"


async def test_a_viewer_cannot_run_approve_or_read_the_audit(doors: TestClient, provider: OidcProviderFake) -> None:
    automation = (await admin.add_token("ci", ["jobs"])).key
    waiting = await (await _job(doors, automation, "git.git_commit")).json()
    assert waiting["status"] == "awaiting_approval"
    viewer = await _token(doors, provider, ["swarm-all"], ["read", "run", "approve"])
    assert (await doors.get("/api/v1/jobs", headers=_bearer(viewer))).status == 200
    assert (await _job(doors, viewer)).status == 403
    for decision in ("approve", "deny"):
        response = await doors.post(f"/api/v1/jobs/{waiting['id']}/{decision}", headers=_bearer(viewer))
        assert response.status == 403
    assert (await doors.get("/api/v1/audit", headers=_bearer(viewer))).status == 403


async def test_an_approver_decides_and_the_decision_is_audited(doors: TestClient, provider: OidcProviderFake) -> None:
    automation = (await admin.add_token("ci", ["jobs"])).key
    waiting = await (await _job(doors, automation, "git.git_commit")).json()
    approver = await _token(doors, provider, ["swarm-approvers"], ["approve"])
    approved = await doors.post(f"/api/v1/jobs/{waiting['id']}/approve", headers=_bearer(approver))
    assert approved.status == 200 and (await approved.json())["status"] == "queued"
    entry = await AuditEntry.get(action="approval_decided")
    assert entry.target == f"job:{waiting['id']}" and entry.data == {"decision": "approved", "tool": "git.git_commit"}
    assert entry.actor.startswith("user:")


async def test_a_person_without_roles_can_do_nothing(doors: TestClient, provider: OidcProviderFake) -> None:
    nobody = await _token(doors, provider, [], ["read", "run"])
    assert (await doors.get("/api/v1/jobs", headers=_bearer(nobody))).status == 403
    assert (await _job(doors, nobody)).status == 403


async def test_cli_tokens_keep_working_as_automation_admins(doors: TestClient) -> None:
    automation = (await admin.add_token("ci", ["jobs"])).key
    assert (await _job(doors, automation, "git.git_commit")).status == 201
    assert (await doors.get("/api/v1/audit", headers=_bearer(automation))).status == 200


async def test_a_person_s_token_is_shown_once_listed_and_revoked(doors: TestClient, provider: OidcProviderFake) -> None:
    await _sign_in_as(doors, provider, ["swarm-ops"])
    created = await (await doors.post("/api/v1/tokens", json={"name": "laptop", "scopes": ["run"],
                                                              "expires_in_days": 7})).json()  # fmt: skip
    assert created["token"].startswith("gs_") and created["expires_at"] is not None
    listed = await (await doors.get("/api/v1/tokens")).json()
    assert [t["id"] for t in listed["tokens"]] == [created["id"]] and "token" not in listed["tokens"][0]
    assert (await _job(doors, created["token"])).status == 201
    revoked = await doors.delete(f"/api/v1/tokens/{created['id']}")
    assert revoked.status == 200 and (await revoked.json())["revoked_at"] is not None
    assert (await _job(doors, created["token"])).status == 401
    actions = [e.action for e in await AuditEntry.all().order_by("id")]
    assert actions == ["login", "token_created", "token_revoked"]


async def test_token_doors_need_a_session(doors: TestClient) -> None:
    assert (await doors.post("/api/v1/tokens", json={"name": "x", "scopes": ["run"]})).status == 401
    assert (await doors.get("/api/v1/tokens")).status == 401


async def test_another_person_s_token_cannot_be_revoked(doors: TestClient, provider: OidcProviderFake) -> None:
    await _sign_in_as(doors, provider, [])
    theirs = await (await doors.post("/api/v1/tokens", json={"name": "a", "scopes": ["read"]})).json()
    await _sign_in_as(doors, provider, [])
    assert (await doors.delete(f"/api/v1/tokens/{theirs['id']}")).status == 404


async def test_an_admin_grants_and_revokes_roles_and_reads_the_audit(
    doors: TestClient, provider: OidcProviderFake
) -> None:
    person = await _sign_in_as(doors, provider, [])
    await _sign_in_as(doors, provider, ["swarm-admins"])
    granted = await doors.post("/api/v1/grants", json={"user_id": person, "role": "operator", "tools": ["git.*"]})
    assert granted.status == 200, await granted.text()
    audit = await (await doors.get("/api/v1/audit?action=role_granted")).json()
    assert [(e["target"], e["data"]) for e in audit["entries"]] == [
        (f"user:{person}", {"role": "operator", "tools": ["git.*"]})
    ]
    grant_id = (await granted.json())["id"]
    assert (await doors.delete(f"/api/v1/grants/{grant_id}")).status == 200
    assert (await doors.get("/api/v1/audit?action=role_revoked")).status == 200
    await _sign_in_as(doors, provider, ["swarm-ops"])
    assert (await doors.post("/api/v1/grants", json={"user_id": person, "role": "admin"})).status == 403
    assert (await doors.get("/api/v1/audit")).status == 403


async def test_a_direct_grant_lets_an_operator_run_the_granted_tool(
    doors: TestClient, provider: OidcProviderFake
) -> None:
    automation = (await admin.add_token("ci", ["jobs"])).key
    person = await _sign_in_as(doors, provider, [])
    token = await (await doors.post("/api/v1/tokens", json={"name": "t", "scopes": ["run"]})).json()
    assert (await _job(doors, token["token"])).status == 403
    grant = {"user_id": person, "role": "operator", "tools": ["demo.*"]}
    assert (await doors.post("/api/v1/grants", json=grant, headers=_bearer(automation))).status == 200
    assert (await _job(doors, token["token"])).status == 201


async def test_the_audit_log_is_append_only(doors: TestClient, provider: OidcProviderFake) -> None:
    await _sign_in_as(doors, provider, [])
    entry = await AuditEntry.first()
    assert entry is not None
    with pytest.raises(RaiseError, match="append-only"):
        await AuditEntry.filter(id=entry.id).update(actor="someone else")
    with pytest.raises(RaiseError, match="append-only"):
        await AuditEntry.filter(id=entry.id).delete()


async def test_only_admins_manage_webhook_endpoints_and_subscriptions(
    doors: TestClient, provider: OidcProviderFake
) -> None:
    operator = await _token(doors, provider, ["swarm-ops"], ["read", "run"])
    for method, path in (("GET", "/api/v1/hooks"), ("POST", "/api/v1/hooks"), ("GET", "/api/v1/subscriptions"),
                         ("POST", "/api/v1/subscriptions")):  # fmt: skip
        response = await doors.request(method, path, json={}, headers=_bearer(operator))
        assert response.status == 403, (method, path)
    automation = (await admin.add_token("ci", ["jobs"])).key
    assert (await doors.get("/api/v1/hooks", headers=_bearer(automation))).status == 200
