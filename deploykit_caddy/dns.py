"""Whether a domain's DNS points at this host: the ``dns_ok`` of a domain's status."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from deploykit.ingress import normalize_hostname


@dataclass(frozen=True)
class DNSCheck:
    """The outcome of resolving one hostname.

    ``ok`` is True when at least one resolved address is one of this host's public addresses,
    False when the name does not resolve or resolves only elsewhere, and None when it cannot be
    told (no public address configured, resolver timed out or failed)."""

    hostname: str
    ok: bool | None
    addresses: list[str] = field(default_factory=list)
    error: str | None = None


Resolver = Callable[[str], Awaitable[list[str]]]
"""Resolves a name to its addresses; raises ``socket.gaierror`` like ``getaddrinfo``."""


async def system_resolver(name: str) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return address


async def check_dns(
    hostname: str, public_addresses: Iterable[str], *, timeout_s: float = 3.0, resolve: Resolver = system_resolver
) -> DNSCheck:
    """Resolve ``hostname`` (A and AAAA, through the system resolver) and compare with
    ``public_addresses``. ``.localhost`` names are ok without a lookup: browsers and RFC 6761 send
    them to the loopback interface, where this host's proxy listens. Never raises."""
    name = normalize_hostname(hostname)
    if name == "localhost" or name.endswith(".localhost"):
        return DNSCheck(name, True, ["127.0.0.1", "::1"])
    ours = {_canonical(a) for a in public_addresses if a.strip()}
    try:
        found = await asyncio.wait_for(resolve(name), timeout_s)
    except TimeoutError:
        return DNSCheck(name, None, error="DNS lookup timed out")
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return DNSCheck(name, False, error="name does not resolve")
        return DNSCheck(name, None, error="DNS lookup failed")
    except OSError:
        return DNSCheck(name, None, error="DNS lookup failed")
    resolved = list(dict.fromkeys(_canonical(address) for address in found))
    if not ours:
        return DNSCheck(name, None, resolved, error="no public address configured")
    if any(address in ours for address in resolved):
        return DNSCheck(name, True, resolved)
    return DNSCheck(name, False, resolved, error="resolves to another host")
