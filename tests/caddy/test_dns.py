"""The DNS half of a domain's status: does the name point at this host."""

from __future__ import annotations

import asyncio
import socket

import pytest

from deploykit_caddy import DNSCheck, check_dns
from deploykit_caddy.dns import Resolver


def resolver(*addresses: str, error: int | None = None, hangs: bool = False) -> Resolver:
    async def resolve(name: str) -> list[str]:
        if hangs:
            await asyncio.Event().wait()
        if error is not None:
            raise socket.gaierror(error, "lookup failed")
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("resolve", "ours", "expected"),
    [
        (resolver("203.0.113.7"), ["203.0.113.7"], DNSCheck("app.example.com", True, ["203.0.113.7"])),
        (
            resolver("2001:db8:0:0::1", "198.51.100.1"),
            ["2001:db8::1"],
            DNSCheck("app.example.com", True, ["2001:db8::1", "198.51.100.1"]),
        ),
        (
            resolver("198.51.100.1"),
            ["203.0.113.7"],
            DNSCheck("app.example.com", False, ["198.51.100.1"], "resolves to another host"),
        ),
        (
            resolver(error=socket.EAI_NONAME),
            ["203.0.113.7"],
            DNSCheck("app.example.com", False, [], "name does not resolve"),
        ),
        (
            resolver(error=socket.EAI_AGAIN),
            ["203.0.113.7"],
            DNSCheck("app.example.com", None, [], "DNS lookup failed"),
        ),
        (
            resolver("203.0.113.7"),
            [],
            DNSCheck("app.example.com", None, ["203.0.113.7"], "no public address configured"),
        ),
    ],
)
async def test_check_dns_compares_resolved_addresses_with_ours(
    resolve: Resolver, ours: list[str], expected: DNSCheck
) -> None:
    assert await check_dns("App.Example.com.", ours, resolve=resolve) == expected


async def test_check_dns_gives_up_at_the_timeout() -> None:
    result = await check_dns(
        "slow.example.com", ["203.0.113.7"], timeout_s=0.05, resolve=resolver("203.0.113.7", hangs=True)
    )
    assert result == DNSCheck("slow.example.com", None, [], "DNS lookup timed out")


async def test_localhost_names_need_no_lookup() -> None:
    result = await check_dns("web-demo.localhost", [], resolve=resolver(error=socket.EAI_NONAME))
    assert result.ok is True


async def test_check_dns_uses_the_system_resolver_by_default() -> None:
    # /etc/hosts always knows this machine's own name; no network needed.
    name = socket.gethostname()
    addresses = [info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)]
    result = await check_dns(f"{name}.", [str(addresses[0])])
    assert result.ok is True
