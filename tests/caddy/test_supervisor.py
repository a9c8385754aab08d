"""CaddySupervisor runs a real ``caddy run`` child and brings every route back after it dies."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from deploykit import UNAVAILABLE, Error
from deploykit.ingress import Route
from deploykit_caddy import CaddyIngress, CaddySettings, CaddySupervisor, SupervisorSettings
from tests.caddy.conftest import CADDY_BIN, Proxy, Upstreams, free_port
from tests.wait import wait_for

pytestmark = [pytest.mark.caddy]


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still "exists"; the supervisor reaps its child, so only a live one counts.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.docker
async def test_killing_supervised_caddy_restores_every_route(proxy: Proxy, upstreams: Upstreams) -> None:
    a = await upstreams.start("alpha")
    proxy.database["svc-1"] = Route("svc-1", ["web.localhost", "shop.test"], [a])
    proxy.database["svc-2"] = Route("svc-2", ["idle.localhost"], [])
    await proxy.ingress.sync_routes(list(proxy.database.values()))
    assert (await proxy.get("web.localhost")).status_code == 200
    old_pid = proxy.supervisor.pid
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)

    async def routes_back() -> bool:
        try:
            statuses = [(await proxy.get(h)).status_code for h in ("web.localhost", "shop.test", "idle.localhost")]
        except httpx.HTTPError:
            return False
        return statuses == [200, 200, 503]

    await wait_for(routes_back, within=10.0, message="every route to answer again after SIGKILL")
    assert proxy.supervisor.pid not in (None, old_pid)
    assert (proxy.supervisor.starts, proxy.supervisor.resyncs) == (2, 2)
    assert (await proxy.get("web.localhost")).text.strip() == "alpha"


async def test_close_stops_caddy_and_its_listeners(proxy: Proxy) -> None:
    pid = proxy.supervisor.pid
    assert pid is not None
    assert process_exists(pid)
    await proxy.ingress.sync_routes([Route("s1", ["a.localhost"], [])])

    await proxy.supervisor.close()

    assert not process_exists(pid)
    assert proxy.supervisor.pid is None
    assert await proxy.ingress.ping() is False
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", proxy.settings.http_port)) != 0


async def test_a_missing_binary_is_unavailable(caddy_dir: Path) -> None:
    async def resync() -> None:
        raise AssertionError("never called")

    settings = SupervisorSettings(data_dir=str(caddy_dir), caddy_bin=str(caddy_dir / "no-caddy"))
    supervisor = CaddySupervisor(settings=settings, on_start=resync)
    with pytest.raises(Error) as excinfo:
        await supervisor.open()
    assert (excinfo.value.code, excinfo.value.message) == (
        UNAVAILABLE,
        f"Cannot start Caddy ({caddy_dir / 'no-caddy'}).",
    )
    await supervisor.close()


async def test_a_caddy_that_exits_at_start_is_unavailable(caddy_dir: Path) -> None:
    async def resync() -> None:
        raise AssertionError("never called")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        admin = f"127.0.0.1:{taken.getsockname()[1]}"
        settings = SupervisorSettings(data_dir=str(caddy_dir), caddy_bin=CADDY_BIN, admin_listen=admin)
        supervisor = CaddySupervisor(settings=settings, on_start=resync)
        with pytest.raises(Error) as excinfo:
            await supervisor.open()
    assert excinfo.value.code == UNAVAILABLE
    assert excinfo.value.message.startswith("Caddy exited at start (1): ")
    assert supervisor.pid is None
    await supervisor.close()


async def test_a_caddy_that_cannot_bind_the_routes_port_is_stopped_and_unavailable(caddy_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: Caddy cannot share it
        taken.listen()
        port = taken.getsockname()[1]
        settings = SupervisorSettings(
            data_dir=str(caddy_dir), caddy_bin=CADDY_BIN, resync_retry_s=0.05, open_sync_timeout_s=1.0
        )
        async with CaddyIngress(
            settings.admin_url, settings=CaddySettings(http_port=port, https_port=None, listen_host="127.0.0.1")
        ) as ingress:
            routes = [Route("s1", ["a.localhost"], ["127.0.0.1:9"])]
            supervisor = CaddySupervisor(settings=settings, on_start=lambda: ingress.sync_routes(routes))
            with pytest.raises(Error) as excinfo:
                await supervisor.open()
    assert excinfo.value.code == UNAVAILABLE
    assert excinfo.value.message.startswith(
        "Caddy did not take the routes within 1s (is the HTTP or HTTPS port taken?)"
    )
    assert (supervisor.pid, supervisor.starts, supervisor.resyncs) == (None, 1, 0)
    await supervisor.close()


async def test_a_failing_resync_is_retried_until_it_succeeds(caddy_dir: Path) -> None:
    calls = 0

    async def resync() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database busy")

    settings = SupervisorSettings(data_dir=str(caddy_dir), caddy_bin=CADDY_BIN, resync_retry_s=0.01)
    async with CaddySupervisor(settings=settings, on_start=resync) as supervisor:
        assert (calls, supervisor.resyncs, supervisor.starts) == (2, 1, 1)


async def test_a_too_long_socket_path_is_refused_with_advice(tmp_path: Path) -> None:
    async def resync() -> None:
        raise AssertionError("never called")

    data_dir = tmp_path / ("d" * 100)
    supervisor = CaddySupervisor(
        settings=SupervisorSettings(data_dir=str(data_dir), caddy_bin=CADDY_BIN), on_start=resync
    )
    with pytest.raises(Error) as excinfo:
        await supervisor.open()
    assert excinfo.value.code == UNAVAILABLE
    assert excinfo.value.message.endswith("is too long; use a shorter data directory or a loopback admin address.")


async def test_ping_is_false_before_open() -> None:
    assert await CaddyIngress("http://127.0.0.1:1").ping() is False


async def test_a_caddy_left_by_a_killed_daemon_is_stopped_at_open(caddy_dir: Path) -> None:
    async def resync() -> None:
        pass

    settings = SupervisorSettings(data_dir=str(caddy_dir), caddy_bin=CADDY_BIN)
    first = CaddySupervisor(settings=settings, on_start=resync)
    await first.open()
    orphan = first.pid
    assert orphan is not None
    # The daemon dies without closing: its supervisor task is gone, its Caddy is not.
    assert first._task is not None
    first._task.cancel()
    first._process = None

    async with CaddySupervisor(settings=settings, on_start=resync) as second:
        assert not process_exists(orphan)
        assert second.pid not in (None, orphan)


async def test_a_kept_caddy_outlives_close_and_is_adopted_with_its_routes(caddy_dir: Path) -> None:
    """``keep_running``: the daemon stops, its Caddy keeps serving, the next daemon adopts that
    same process (no restart, no reload) and supervises it: killed, it is started again."""
    settings = CaddySettings(http_port=free_port(), https_port=None, listen_host="127.0.0.1")
    sup = SupervisorSettings(data_dir=str(caddy_dir), caddy_bin=CADDY_BIN, keep_running=True, backoff_initial_s=0.05)
    routes = [Route("svc-1", ["idle.localhost"], [])]
    calls: list[str] = []

    async with CaddyIngress(sup.admin_url, settings=settings) as first_ingress:

        async def first_start() -> None:
            await first_ingress.sync_routes(routes)

        first = CaddySupervisor(settings=sup, on_start=first_start)
        await first.open()
        pid = first.pid
        assert pid is not None
        await first.close()

    assert process_exists(pid)
    url = f"http://127.0.0.1:{settings.http_port}/"
    async with httpx.AsyncClient(timeout=5.0) as client:
        assert (await client.get(url, headers={"Host": "idle.localhost"})).status_code == 503

    async with CaddyIngress(sup.admin_url, settings=settings) as ingress:

        async def start() -> None:
            calls.append("start")
            await ingress.sync_routes(ingress.routes())

        async def adopt() -> None:
            calls.append("adopt")
            await ingress.ensure_routes()

        second = CaddySupervisor(settings=sup, on_start=start, on_adopt=adopt)
        await second.open()
        try:
            assert (second.adopted, second.pid, second.starts, calls) == (pid, pid, 0, ["adopt"])
            assert ingress.routes() == routes  # taken over from the running Caddy

            os.kill(pid, signal.SIGKILL)

            async def restarted() -> bool:
                return second.pid not in (None, pid) and second.resyncs == 1

            await wait_for(restarted, within=5.0, message="the adopted Caddy to be restarted after SIGKILL")
            assert calls == ["adopt", "start"]
            async with httpx.AsyncClient(timeout=5.0) as client:
                assert (await client.get(url, headers={"Host": "idle.localhost"})).status_code == 503
        finally:
            await second.close()
    kept = int((caddy_dir / "caddy.pid").read_text())
    try:
        assert (second.pid, process_exists(kept)) == (None, True)  # released, not stopped
    finally:
        os.kill(kept, signal.SIGTERM)
