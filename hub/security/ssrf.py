"""SSRF guard for outbound requests: only public addresses, unless an allow-list admits a network.

Checked on the addresses a name resolves to (so a public name pointing at 127.0.0.1 is refused) by
a resolver that aiohttp then connects with, so the check and the connection use the same answer."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOWED_SCHEMES = ("http", "https")


class BlockedTarget(Exception):
    """The target is not allowed (private, loopback, link-local, metadata, or a bad URL)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """``127.0.0.1/32,10.0.0.0/8`` (a bare address is one host); ValueError names a bad entry."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(networks)


@dataclass(frozen=True)
class TargetPolicy:
    """Which addresses outbound requests may reach: public ones, and those in ``allow``."""

    allow: tuple[IpNetwork, ...] = ()

    def check_address(self, address: str) -> None:
        """Raise BlockedTarget unless ``address`` is public or allow-listed."""
        ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allow):
            return
        if not ip.is_global or ip.is_multicast:
            raise BlockedTarget(f"{ip} is not a public address (loopback, private, link-local or metadata)")

    def check_url(self, url: str) -> str:
        """Check the scheme and, for an IP literal, the address; return the host name."""
        parts = urlsplit(url)
        if parts.scheme not in ALLOWED_SCHEMES:
            raise BlockedTarget(f"scheme {parts.scheme or '(none)'!r} is not allowed: use http or https")
        if not parts.hostname:
            raise BlockedTarget("the URL has no host")
        if parts.username or parts.password:
            raise BlockedTarget("credentials in the URL are not allowed")
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            return parts.hostname
        self.check_address(parts.hostname)
        return parts.hostname


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses if any answer is not allowed."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        for answer in answers:
            self.policy.check_address(answer["host"])
        return answers

    async def close(self) -> None:
        await self.inner.close()


async def check_host(policy: TargetPolicy, url: str, resolver: AbstractResolver | None = None) -> list[str]:
    """Resolve the URL's host and check every address (used when a subscription is saved)."""
    host = policy.check_url(url)
    guarded = GuardedResolver(policy, resolver)
    try:
        answers: list[ResolveResult] = await guarded.resolve(host, 0, socket.AF_UNSPEC)
    except OSError as exc:
        raise BlockedTarget(f"cannot resolve {host}: {exc.strerror or exc}") from None
    finally:
        if resolver is None:
            await guarded.close()
    return [str(answer["host"]) for answer in answers]
