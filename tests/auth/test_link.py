"""``/swarm login``: a one-time, short-lived link that binds the chat identity to whoever signs in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.db.auth_models import AuditEntry, ChatLinkCode
from hub.db.models import Origin
from hub.services import admin
from hub.services.commands import Requester, handle_text
from hub.settings import Settings
from hub.sso.people import chat_user
from tests.auth.helpers import authorize, sign_in
from tests.fakes.oidc_provider import OidcProviderFake

AiohttpClient = Any


async def _login_link(hub: TestClient, key: str) -> str:
    answer = await hub.post("/api/v1/console/commands", json={"text": "/swarm login"},
                            headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    body = await answer.json()
    assert answer.status == 200 and body["ok"] is True, body
    assert "works once, for 10 minutes" in body["reply"]
    return urlsplit(body["reply"].rsplit(" ", 1)[1]).path


async def _confirm(hub: TestClient, link: str) -> None:
    """Sign in through the link, read the confirmation page, confirm."""
    back = await sign_in(hub, start=link)
    assert back.status == 303 and back.headers["Location"] == link + "/confirm"
    page = await hub.get(link + "/confirm")
    assert page.status == 200 and "console account ada-laptop" in await page.text()
    assert (await hub.post(link + "/confirm")).status == 200


async def test_swarm_login_links_the_chat_identity_to_the_person(hub: TestClient, provider: OidcProviderFake) -> None:
    key = (await admin.add_token("ada-laptop", ["jobs"])).key
    link = await _login_link(hub, key)
    assert link.startswith("/auth/link/")
    await _confirm(hub, link)
    me = await (await hub.get("/api/v1/me")).json()
    assert me["chat_identities"] == [{"platform": "console", "team_id": "", "platform_user_id": "ada-laptop"}]
    person = await chat_user("console:ada-laptop")
    assert person is not None and str(person.id) == me["id"]
    assert (await AuditEntry.get(action="identity_linked")).target == "console::ada-laptop"


async def test_a_link_works_once(hub: TestClient, provider: OidcProviderFake) -> None:
    key = (await admin.add_token("ada-laptop", ["jobs"])).key
    link = await _login_link(hub, key)
    await _confirm(hub, link)
    again = await hub.get(link, allow_redirects=False)
    assert again.status == 404 and "unknown, used or expired" in (await again.json())["error"]["message"]


async def test_an_expired_link_is_refused(hub: TestClient, provider: OidcProviderFake) -> None:
    key = (await admin.add_token("ada-laptop", ["jobs"])).key
    link = await _login_link(hub, key)
    await ChatLinkCode.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert (await hub.get(link, allow_redirects=False)).status == 404


async def test_a_link_binds_only_the_first_person_who_finishes(hub: TestClient, provider: OidcProviderFake) -> None:
    key = (await admin.add_token("ada-laptop", ["jobs"])).key
    link = await _login_link(hub, key)
    ada = await authorize(hub, start=link)
    hub.session.cookie_jar.clear()  # another browser
    provider.user = {"sub": "mallory", "email": "m@example.com", "name": "Mallory"}
    mallory = await authorize(hub, start=link)  # started with the same link before Ada finished
    for redirect in (ada, mallory):
        hub.session.cookie_jar.clear()
        hub.session.cookie_jar.update_cookies({"gs_login": redirect.state})
        assert (await hub.get(redirect.path_qs, allow_redirects=False)).status == 303
        confirmed = await hub.post(link + "/confirm")
        assert confirmed.status == (200 if redirect is ada else 404)  # Mallory: signed in...
    assert (await (await hub.get("/api/v1/me")).json())["chat_identities"] == []  # ...but bound to nothing
    person = await chat_user("console:ada-laptop")
    assert person is not None and person.display_name == "Ada"


async def test_without_sso_swarm_login_says_so(
    aiohttp_client: AiohttpClient, settings: Settings, orm: None, tmp_path: Path
) -> None:
    hub = await aiohttp_client(create_app(settings))
    key = (await admin.add_token("t", ["jobs"])).key
    answer = await (await hub.post("/api/v1/console/commands", json={"text": "/swarm login"},
                                   headers={"Authorization": f"Bearer {key}"})).json()  # fmt: skip
    assert (answer["ok"], answer["reply"]) == (False, "Sign-in is not configured on this hub yet.")
    assert (await hub.get("/auth/login", allow_redirects=False)).status == 503


async def test_a_slack_identity_gets_a_link_too(orm: None) -> None:
    from hub.services.jobs import JobServices
    from jobs.effects import EffectApplier

    tenant = await admin.ensure_tenant()
    requester = Requester(tenant_id=tenant.id, origin=Origin.SLACK, identity="slack:T01:U02", thread_ref={},
                          sign_in_url="https://hub.example")  # fmt: skip
    outcome = await handle_text(JobServices(EffectApplier(None)), requester, "/swarm login")  # type: ignore[arg-type]
    assert outcome.ok and "https://hub.example/auth/link/" in outcome.reply
    code = await ChatLinkCode.get()
    assert (code.platform, code.team_id, code.platform_user_id) == ("slack", "T01", "U02")


async def test_signing_in_through_someone_else_s_link_binds_nothing_without_confirming(
    hub: TestClient, provider: OidcProviderFake
) -> None:
    key = (await admin.add_token("mallory-laptop", ["jobs"])).key
    link = await _login_link(hub, key)  # Mallory asks for a link and sends it to Ada
    back = await sign_in(hub, start=link)  # Ada signs in through it...
    assert back.status == 303 and back.headers["Location"] == link + "/confirm"
    page = await (await hub.get(link + "/confirm")).text()
    assert "mallory-laptop" in page and "If someone sent you this link" in page  # ...and is warned
    assert await chat_user("console:mallory-laptop") is None, "nothing is bound before Ada confirms"
    hub.session.cookie_jar.clear()  # a cross-site POST carries no SameSite=Lax session cookie
    assert (await hub.post(link + "/confirm")).status == 401
    assert await chat_user("console:mallory-laptop") is None
