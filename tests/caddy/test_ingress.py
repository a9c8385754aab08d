"""CaddyIngress against a real Caddy, with busybox httpd containers as the services."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from deploykit import UNAVAILABLE, Error
from deploykit.ingress import DomainCheck, Route, TLSStatus
from deploykit_caddy import CaddyIngress, CaddySettings, tcp_migrate_req
from tests.caddy.conftest import Proxy, Upstreams, free_port, start_proxy, stop_proxy
from tests.wait import wait_for

pytestmark = [pytest.mark.caddy]


async def body_for(proxy: Proxy, host: str) -> tuple[int, str]:
    response = await proxy.get(host)
    return response.status_code, response.text.strip()


@pytest.mark.docker
async def test_requests_with_a_service_host_reach_its_container(proxy: Proxy, upstreams: Upstreams) -> None:
    a = await upstreams.start("alpha")
    await proxy.ingress.set_route(Route("svc-1", ["web-demo.localhost"], [a]))
    assert await body_for(proxy, "web-demo.localhost") == (200, "alpha")
    assert await body_for(proxy, "WEB-DEMO.localhost") == (200, "alpha")
    assert await body_for(proxy, "other.localhost") == (404, "No service at this address.")


@pytest.mark.docker
async def test_adding_and_removing_a_custom_domain_starts_and_stops_routing(proxy: Proxy, upstreams: Upstreams) -> None:
    a = await upstreams.start("alpha")
    await proxy.ingress.set_route(Route("svc-1", ["web-demo.localhost"], [a]))
    assert (await body_for(proxy, "shop.test"))[0] == 404

    await proxy.ingress.set_route(Route("svc-1", ["web-demo.localhost", "shop.test"], [a]))
    assert await body_for(proxy, "shop.test") == (200, "alpha")

    await proxy.ingress.set_route(Route("svc-1", ["web-demo.localhost"], [a]))
    assert (await body_for(proxy, "shop.test"))[0] == 404
    assert await body_for(proxy, "web-demo.localhost") == (200, "alpha")

    await proxy.ingress.remove_route("svc-1")
    await proxy.ingress.remove_route("svc-1")  # idempotent
    assert (await body_for(proxy, "web-demo.localhost"))[0] == 404


@pytest.mark.docker
async def test_https_with_the_internal_issuer_answers_for_a_localhost_name(proxy: Proxy, upstreams: Upstreams) -> None:
    a = await upstreams.start("alpha")
    await proxy.ingress.set_route(Route("svc-1", ["secure.localhost"], [a]))

    async def root_ca_exists() -> bool:
        return proxy.root_ca().exists()

    await wait_for(root_ca_exists, within=10, message="Caddy's internal root CA")
    context = ssl.create_default_context(cafile=str(proxy.root_ca()))
    response: httpx.Response | None = None

    async def https_answers() -> bool:
        nonlocal response
        try:
            async with httpx.AsyncClient(verify=context, timeout=2.0) as client:
                response = await client.get(
                    f"{proxy.https_url}/",
                    headers={"Host": "secure.localhost"},
                    extensions={"sni_hostname": "secure.localhost"},
                )
        except httpx.HTTPError:
            return False
        return True

    await wait_for(https_answers, within=10, message="an HTTPS answer for secure.localhost")
    assert response is not None
    assert (response.status_code, response.text.strip()) == (200, "alpha")
    assert await proxy.ingress.probe_tls("secure.localhost") == TLSStatus.INTERNAL


@dataclass
class Load:
    """An open-loop load: one request every ``1/rate`` seconds, whatever the previous one does.

    ``keepalive`` clients reuse connections and, like browsers and Go's client (RFC 9112 §9.3.1),
    retry an idempotent request once when the server closed the reused connection before any
    response byte: every config reload closes idle client connections, and a request already on
    its way on one of them races that close. ``retries`` counts those."""

    url: str
    host: str
    keepalive: bool
    rate: float = 20.0
    outcomes: list[int | str] = field(default_factory=list)
    bodies: set[str] = field(default_factory=set)
    retries: int = 0

    async def _one(self, client: httpx.AsyncClient) -> None:
        for attempt in (1, 2):
            try:
                response = await client.get(self.url, headers={"Host": self.host})
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if self.keepalive and attempt == 1:
                    self.retries += 1
                    continue
                self.outcomes.append(type(exc).__name__)
                return
            except httpx.HTTPError as exc:
                self.outcomes.append(type(exc).__name__)
                return
            self.outcomes.append(response.status_code)
            self.bodies.add(response.text.strip())
            return

    async def run(self, stop: asyncio.Event) -> None:
        limits = httpx.Limits() if self.keepalive else httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            tasks = []
            next_at = time.monotonic()
            while not stop.is_set():
                tasks.append(asyncio.create_task(self._one(client)))
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await asyncio.gather(*tasks)


async def under_load(*loads: Load, requests: int = 10) -> None:
    """Until each load has made ``requests`` more requests (answered or not)."""
    marks = [len(load.outcomes) for load in loads]
    await wait_for(
        lambda: all(len(load.outcomes) >= mark + requests for load, mark in zip(loads, marks, strict=True)),
        within=30,
        message=f"{requests} more requests from each load",
    )


@pytest.mark.docker
async def test_upstream_switch_under_load_sees_only_2xx(proxy: Proxy, upstreams: Upstreams) -> None:
    a, b = await asyncio.gather(upstreams.start("alpha"), upstreams.start("beta"))
    await proxy.ingress.set_route(Route("svc-1", ["web.localhost"], [a]))
    fresh = Load(f"{proxy.http_url}/", "web.localhost", keepalive=False)
    reused = Load(f"{proxy.http_url}/", "web.localhost", keepalive=True)
    stop = asyncio.Event()
    loaders = [asyncio.create_task(fresh.run(stop)), asyncio.create_task(reused.run(stop))]
    switches = [b, a, b, a, b]
    for target in switches:
        await under_load(fresh, reused)
        await proxy.ingress.set_route(Route("svc-1", ["web.localhost"], [target]))
    await under_load(fresh, reused)
    stop.set()
    await asyncio.gather(*loaders)

    # Without tcp_migrate_req the kernel resets the rare connection still queued on the listener a
    # reload closes (see deploykit_caddy/kernel.py); that is never an HTTP error from Caddy.
    allowed_resets = 0 if tcp_migrate_req() else 2
    for load in (fresh, reused):
        assert len(load.outcomes) >= 50
        assert [o for o in load.outcomes if isinstance(o, int) and o != 200] == []
        resets = [o for o in load.outcomes if isinstance(o, str)]
        assert set(resets) <= {"ConnectError", "ReadError", "RemoteProtocolError"}
        assert len(resets) <= allowed_resets, resets
        assert load.bodies == {"alpha", "beta"}
    assert fresh.retries == 0
    assert reused.retries <= len(switches)  # at most the one pooled connection each reload closed
    assert await body_for(proxy, "web.localhost") == (200, "beta")


@pytest.mark.docker
async def test_a_route_without_ready_upstreams_answers_503(proxy: Proxy) -> None:
    await proxy.ingress.set_route(Route("svc-1", ["web.localhost"], []))
    assert (await proxy.get("web.localhost")).status_code == 503


async def test_sync_routes_makes_caddy_route_exactly_the_list(proxy: Proxy) -> None:
    await proxy.ingress.sync_routes([Route("s1", ["a.localhost"], ["10.9.9.1:80"]), Route("s2", ["b.localhost"], [])])
    await proxy.ingress.set_route(Route("s3", ["c.test"], ["10.9.9.3:80"]))
    await proxy.ingress.sync_routes([Route("s2", ["b.localhost"], ["10.9.9.2:80"])])

    routes = await proxy.ingress.routes_in_caddy()
    assert [r["@id"] for r in routes] == ["dk-svc-s2", "dk-fallback"]
    assert routes[0]["handle"][0]["upstreams"] == [{"dial": "10.9.9.2:80"}]


async def test_an_upstream_switch_patches_only_that_route(proxy: Proxy) -> None:
    await proxy.ingress.sync_routes([Route("s1", ["a.localhost"], ["10.9.9.1:80"]), Route("s2", ["b.localhost"], [])])
    requests = await admin_requests(proxy.ingress)
    await proxy.ingress.set_route(Route("s1", ["a.localhost"], ["10.9.9.4:80", "10.9.9.5:80"]))

    assert requests == ["PATCH /id/dk-svc-s1"]
    routes = await proxy.ingress.routes_in_caddy()
    assert [r["@id"] for r in routes] == ["dk-svc-s1", "dk-svc-s2", "dk-fallback"]
    assert routes[0]["handle"][0]["upstreams"] == [{"dial": "10.9.9.4:80"}, {"dial": "10.9.9.5:80"}]


async def test_a_change_after_caddy_lost_its_config_restores_every_route(proxy: Proxy) -> None:
    await proxy.ingress.sync_routes([Route("s1", ["a.localhost"], ["10.9.9.1:80"]), Route("s2", ["b.localhost"], [])])
    # Another client wipes the config, as a Caddy restarted without its routes would be.
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=proxy.supervisor.settings.socket_path)
    ) as admin:
        admin_config = (await admin.get("http://caddy/config/admin", headers={"Host": ""})).json()
        response = await admin.post("http://caddy/load", json={"admin": admin_config}, headers={"Host": ""})
        assert response.status_code == 200

    await proxy.ingress.set_route(Route("s1", ["a.localhost"], ["10.9.9.7:80"]))

    routes = await proxy.ingress.routes_in_caddy()
    assert [r["@id"] for r in routes] == ["dk-svc-s1", "dk-svc-s2", "dk-fallback"]


async def test_http_redirects_to_https_when_asked(caddy_dir: Path) -> None:
    proxy = await start_proxy(caddy_dir, redirect_http=True)
    try:
        await proxy.ingress.set_route(Route("s1", ["web.localhost"], ["10.9.9.1:80"]))
        response = await proxy.get("web.localhost", "/path?q=1")
        assert response.status_code == 308
        # Caddy takes its configured HTTPS port to be the public 443 (port-forwarded), so no port.
        assert response.headers["location"] == "https://web.localhost/path?q=1"
    finally:
        await stop_proxy(proxy)


async def test_an_unreachable_caddy_is_unavailable_and_pings_false() -> None:
    async with CaddyIngress(f"http://127.0.0.1:{free_port()}") as ingress:
        assert await ingress.ping() is False
        with pytest.raises(Error) as excinfo:
            await ingress.set_route(Route("s1", ["a.localhost"], ["10.0.0.1:80"]))
    assert excinfo.value.code == UNAVAILABLE
    assert excinfo.value.message.startswith("Caddy's admin API at http://127.0.0.1:")
    assert excinfo.value.message.endswith(" does not answer.")


async def test_ping_answers_true_for_a_running_caddy(proxy: Proxy) -> None:
    assert await proxy.ingress.ping() is True


async def test_check_domain_reports_dns_and_tls_of_a_name(caddy_dir: Path) -> None:
    async def resolve(name: str) -> list[str]:
        return {"shop.example.com": ["203.0.113.7"], "elsewhere.example.com": ["198.51.100.1"]}[name]

    proxy = await start_proxy(caddy_dir)
    ingress = CaddyIngress(
        proxy.supervisor.admin_url,
        settings=replace(proxy.settings, public_addresses=("203.0.113.7",)),
        resolve=resolve,
    )
    try:
        await ingress.open()
        await ingress.set_route(Route("s1", ["secure.localhost"], ["10.9.9.1:80"]))

        async def internal_cert_served() -> bool:
            return await ingress.probe_tls("secure.localhost") == TLSStatus.INTERNAL

        await wait_for(internal_cert_served, within=10, message="the internal certificate of secure.localhost")
        assert await ingress.check_domain("secure.localhost") == DomainCheck(
            "secure.localhost", True, TLSStatus.INTERNAL
        )
        # No route for public names here: Caddy must never try ACME in tests. No certificate: pending.
        assert await ingress.check_domain("Shop.Example.com") == DomainCheck(
            "shop.example.com", True, TLSStatus.PENDING
        )
        assert await ingress.check_domain("elsewhere.example.com") == DomainCheck(
            "elsewhere.example.com", False, TLSStatus.PENDING, "resolves to another host"
        )
    finally:
        await ingress.close()
        await stop_proxy(proxy)


async def test_probe_tls_fails_when_nothing_listens() -> None:
    settings = CaddySettings(https_port=free_port(), listen_host="127.0.0.1")
    async with CaddyIngress(f"http://127.0.0.1:{free_port()}", settings=settings) as ingress:
        assert await ingress.probe_tls("app.example.com") == TLSStatus.FAILED


async def keepalive_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One request on an open keep-alive connection: the status line, with " (closing)" when Caddy
    announced it will close the connection, or b"" when Caddy had already closed it."""
    writer.write(b"GET / HTTP/1.1\r\nHost: idle.localhost\r\n\r\n")
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""
    headers = [h.lower() for h in head.split(b"\r\n")]
    length = int(next(h for h in headers if h.startswith(b"content-length:")).split(b":")[1])
    await reader.readexactly(length)
    closing = b"connection: close" in headers
    return head.split(b"\r\n", 1)[0] + (b" (closing)" if closing else b"")


async def test_reapplying_the_same_routes_does_not_reload_caddy(proxy: Proxy) -> None:
    # Observable through an idle keep-alive connection: a reload closes it, a no-op keeps it.
    routes = [Route("s1", ["idle.localhost"], []), Route("s2", ["other.localhost"], [])]
    await proxy.ingress.sync_routes(routes)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.settings.http_port)
    try:
        assert await keepalive_exchange(reader, writer) == b"HTTP/1.1 503 Service Unavailable"

        await proxy.ingress.sync_routes(list(reversed(routes)))
        await proxy.ingress.set_route(Route("s1", ["IDLE.localhost"], []))
        assert await keepalive_exchange(reader, writer) == b"HTTP/1.1 503 Service Unavailable"

        await proxy.ingress.set_route(Route("s2", ["other.localhost"], ["10.9.9.2:80"]))
        # The old server closes idle connections as it shuts down; a request that slips in
        # first is still answered, with "Connection: close".
        last = await keepalive_exchange(reader, writer)
        assert last in (b"", b"HTTP/1.1 503 Service Unavailable (closing)")
        if last:
            assert await keepalive_exchange(reader, writer) == b""
    finally:
        writer.close()


async def test_a_route_without_hostnames_is_not_served(proxy: Proxy) -> None:
    await proxy.ingress.sync_routes([Route("s1", [], ["10.9.9.1:80"]), Route("s2", ["b.localhost"], [])])
    routes = await proxy.ingress.routes_in_caddy()
    assert [r["@id"] for r in routes] == ["dk-svc-s2", "dk-fallback"]
    assert (await proxy.get("anything.localhost")).status_code == 404


async def test_ensure_routes_restores_routes_a_caddy_lost_and_is_a_no_op_otherwise(proxy: Proxy) -> None:
    await proxy.ingress.sync_routes([Route("s1", ["a.localhost"], ["10.9.9.1:80"]), Route("s2", ["b.localhost"], [])])
    assert await proxy.ingress.ensure_routes() is False

    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=proxy.supervisor.settings.socket_path)
    ) as admin:
        admin_config = (await admin.get("http://caddy/config/admin", headers={"Host": ""})).json()
        response = await admin.post("http://caddy/load", json={"admin": admin_config}, headers={"Host": ""})
        assert response.status_code == 200

    assert await proxy.ingress.ensure_routes() is True
    assert [r["@id"] for r in await proxy.ingress.routes_in_caddy()] == ["dk-svc-s1", "dk-svc-s2", "dk-fallback"]
    assert await proxy.ingress.ensure_routes() is False


async def test_services_without_domains_never_touch_an_unreachable_caddy() -> None:
    async with CaddyIngress(f"http://127.0.0.1:{free_port()}") as ingress:
        await ingress.set_route(Route("s1", [], ["10.0.0.1:80"]))
        await ingress.remove_route("s1")
        await ingress.remove_route("never-routed")
        assert ingress.routes() == []


async def admin_requests(ingress: CaddyIngress) -> list[str]:
    """Record the admin requests ``ingress`` makes from now on."""
    requests: list[str] = []

    assert ingress._client is not None
    ingress._client.on_request.append(lambda method, path: requests.append(f"{method} {path.split('?')[0]}"))
    return requests


@pytest.mark.parametrize(
    ("try_duration_s", "expected"),
    [
        (5.0, ["GET /config/", "PATCH /id/dk-svc-s1"]),  # same settings: patch one route
        (9.0, ["GET /config/", "GET /config/", "POST /load"]),  # new settings: load all routes
    ],
)
async def test_a_restarted_daemon_takes_over_the_routes_caddy_serves(
    proxy: Proxy, try_duration_s: float, expected: list[str]
) -> None:
    await proxy.ingress.sync_routes([Route("s1", ["a.localhost"], ["10.9.9.1:80"]), Route("s2", ["b.localhost"], [])])

    settings = replace(proxy.settings, try_duration_s=try_duration_s)
    async with CaddyIngress(proxy.supervisor.admin_url, settings=settings) as fresh:
        requests = await admin_requests(fresh)
        await fresh.set_route(Route("s1", ["a.localhost"], ["10.9.9.5:80"]))

        assert requests == expected
        assert [r.service_id for r in fresh.routes()] == ["s1", "s2"]
    routes = await proxy.ingress.routes_in_caddy()
    assert [r["@id"] for r in routes] == ["dk-svc-s1", "dk-svc-s2", "dk-fallback"]
    assert routes[0]["handle"][0]["upstreams"] == [{"dial": "10.9.9.5:80"}]


async def test_a_hostname_moves_to_the_route_that_claims_it(proxy: Proxy) -> None:
    await proxy.ingress.sync_routes([Route("s1", ["a.localhost", "shop.test"], ["10.9.9.1:80"])])

    await proxy.ingress.set_route(Route("s2", ["shop.test"], []))

    routes = await proxy.ingress.routes_in_caddy()
    assert [(r["@id"], r.get("match")) for r in routes] == [
        ("dk-svc-s1", [{"host": ["a.localhost"]}]),
        ("dk-svc-s2", [{"host": ["shop.test"]}]),
        ("dk-fallback", None),
    ]


async def test_an_admin_connection_closed_under_a_kept_alive_client_is_retried_once() -> None:
    # Caddy restarts its admin server after a load and drops the kept-alive connection the next
    # call reuses. An admin server that answers one request per connection, then hangs up on the
    # second, shows it: every change still goes through, each call on a fresh connection.
    seen: list[bytes] = []

    async def one_answer_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head.split(b" ", 2)[1])
        length = next(
            (int(h.split(b":")[1]) for h in head.lower().split(b"\r\n") if h.startswith(b"content-length:")), 0
        )
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await reader.read(1)  # the client's next request on this connection: hang up unanswered
        writer.close()

    port = free_port()
    server = await asyncio.start_server(one_answer_per_connection, "127.0.0.1", port)
    async with server, CaddyIngress(f"http://127.0.0.1:{port}") as ingress:
        await ingress.sync_routes([Route("s1", ["a.localhost"], [])])
        await ingress.sync_routes([Route("s1", ["b.localhost"], [])])
    assert seen == [b"/config/", b"/load", b"/config/", b"/load"]
