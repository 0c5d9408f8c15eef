"""The SSRF guard: public targets only, checked after DNS resolution and on every redirect."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from hub.security.ssrf import BlockedTarget, TargetPolicy, check_host, parse_networks
from hub.webhooks.outbound import attempt, guarded_session

PUBLIC = TargetPolicy()
LOCAL_ALLOWED = TargetPolicy(parse_networks("127.0.0.1/32"))


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.8", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.100.100.200", "0.0.0.0",
     "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "224.0.0.1"],
)  # fmt: skip
def test_private_loopback_link_local_and_metadata_addresses_are_refused(address: str) -> None:
    with pytest.raises(BlockedTarget):
        PUBLIC.check_address(address)


def test_public_addresses_pass_and_the_allow_list_admits_a_network() -> None:
    PUBLIC.check_address("93.184.215.14")
    LOCAL_ALLOWED.check_address("127.0.0.1")
    with pytest.raises(BlockedTarget):
        LOCAL_ALLOWED.check_address("127.0.0.2")


def test_urls_need_http_and_no_credentials() -> None:
    for url in ("ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "http:///x"):
        with pytest.raises(BlockedTarget):
            PUBLIC.check_url(url)


async def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    with pytest.raises(BlockedTarget, match=r"127\.0\.0\.1|::1"):
        await check_host(PUBLIC, "http://localhost:8080/hook")
    assert "127.0.0.1" in await check_host(LOCAL_ALLOWED, "http://127.0.0.1:8080/hook")


async def test_delivery_to_a_loopback_name_is_refused_at_connect_time(aiohttp_server: Any) -> None:
    server = await aiohttp_server(web.Application())
    async with guarded_session(PUBLIC) as session:
        result = await attempt(session, PUBLIC, f"http://localhost:{server.port}/", {}, b"{}", 5)
    assert not result.ok and result.permanent and "target refused" in (result.error or "")


async def test_a_redirect_to_the_metadata_address_is_refused(aiohttp_server: Any) -> None:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("http://169.254.169.254/latest/meta-data/")

    app = web.Application()
    app.router.add_post("/hook", redirect)
    server = await aiohttp_server(app)
    async with guarded_session(LOCAL_ALLOWED) as session:
        result = await attempt(session, LOCAL_ALLOWED, str(server.make_url("/hook")), {}, b"{}", 5)
    assert not result.ok and result.permanent
    assert "169.254.169.254" in (result.error or "")
