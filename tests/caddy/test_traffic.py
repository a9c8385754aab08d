"""CaddyTraffic, the daemon's ingress: none, an existing Caddy kept in line, or tolerance of a
Caddy that does not answer. (Supervised mode runs end to end in tests/e2e/test_ingress_daemon.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from deploykit.ingress import Route
from deploykit_caddy import CaddyIngress, CaddyTraffic, TolerantIngress, TrafficSettings, route_id
from tests.caddy.conftest import Proxy, free_port
from tests.wait import wait_for


async def test_disabled_traffic_has_no_ingress_and_starts_no_caddy(tmp_path: Path) -> None:
    traffic = CaddyTraffic(TrafficSettings(data_dir=tmp_path, enabled=False))
    await traffic.open()
    try:
        assert (traffic.ingress, traffic.supervisor, traffic.caddy_pid) == (None, None, None)
        assert await traffic.ping() is False
    finally:
        await traffic.close()
    assert not (tmp_path / "caddy").exists()


@pytest.mark.caddy
async def test_an_existing_caddy_that_lost_our_routes_gets_them_back(proxy: Proxy, caddy_dir: Path) -> None:
    assert proxy.settings.https_port is not None
    settings = TrafficSettings(
        data_dir=caddy_dir,
        caddy_admin=proxy.supervisor.admin_url,
        http_port=proxy.settings.http_port,
        https_port=proxy.settings.https_port,
        redirect_http=False,
        ensure_interval_s=0.05,
    )
    traffic = CaddyTraffic(settings)
    await traffic.open()
    try:
        assert traffic.ingress is not None
        assert traffic.caddy is not None
        caddy = traffic.caddy
        assert traffic.supervisor is None  # not ours to run
        await traffic.ingress.set_route(Route("svc-1", ["web.localhost"], []))

        async def ours_in_caddy() -> bool:
            return route_id("svc-1") in {r.get("@id") for r in await caddy.routes_in_caddy()}

        assert await ours_in_caddy()
        await proxy.ingress.sync_routes([])  # someone else's edit drops our route
        assert not await ours_in_caddy()
        await wait_for(ours_in_caddy, within=5.0, message="the route to be put back")
    finally:
        await traffic.close()


async def test_an_unreachable_caddy_does_not_fail_a_route_change_and_keeps_it_as_desired() -> None:
    caddy = CaddyIngress(f"http://127.0.0.1:{free_port()}")
    await caddy.open()
    try:
        ingress = TolerantIngress(caddy)
        route = Route("svc-1", ["web.localhost"], ["10.0.0.2:80"])
        await ingress.set_route(route)
        assert [r.service_id for r in caddy.routes()] == ["svc-1"]
        await ingress.remove_route("svc-1")
        assert caddy.routes() == []
        assert await ingress.ping() is False
    finally:
        await caddy.close()
