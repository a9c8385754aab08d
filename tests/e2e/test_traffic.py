"""Traffic end to end: the real ``deploykitd`` supervising a real Caddy on free loopback ports,
deploying real containers, and requests going through Caddy by Host header (HTTP) and SNI (HTTPS).

Each request opens a new connection, as most clients on the internet do; nothing sleeps to let
things settle: every wait polls a condition against a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_IMAGE
from tests.e2e.support import (
    UNSETTLED,
    Account,
    Daemon,
    create_project,
    free_port,
    register_admin,
    remove_engine_objects,
)
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.caddy, pytest.mark.slow]

CADDY_BIN = os.environ.get("DEPLOYKIT_CADDY_BIN") or shutil.which("caddy") or "/usr/bin/caddy"

# Answers with the container's hostname, so that a response says which replica served it; exits
# on SIGTERM at once (a shell as PID 1 has no default SIGTERM action).
HTTPD = "echo $HOSTNAME > /www/index.html; trap 'kill $!; exit 0' TERM; httpd -f -p 8080 -h /www & wait"
HEALTH = {"type": "http", "path": "/", "interval_s": 1, "timeout_s": 1}


@dataclass
class Proxy:
    """The daemon, its admin, and the ports its Caddy serves."""

    daemon: Daemon
    admin: Account
    http_port: int
    https_port: int
    project_id: str = ""
    services: dict[str, str] = field(default_factory=dict)
    """Service id by name, deployed once per module."""
    hosts: dict[str, str] = field(default_factory=dict)
    """The generated hostname by service name."""

    @property
    def caddy_dir(self) -> Path:
        return self.daemon.data_dir / "caddy"

    def get(self, host: str, timeout: float = 5.0) -> httpx.Response:
        """One request through Caddy on a new connection."""
        return httpx.get(f"http://127.0.0.1:{self.http_port}/", headers={"Host": host}, timeout=timeout)

    def body(self, host: str) -> str | None:
        try:
            r = self.get(host, timeout=2.0)
        except httpx.HTTPError:
            return None
        return r.text.strip() if r.status_code == 200 else None


@contextlib.contextmanager
def docker_daemon(data_dir: Path, flags: list[str]) -> Iterator[Daemon]:
    """A daemon on the real engine with an instance id of its own (other daemons on this engine,
    parallel suites, leave its objects alone). Always stopped, even when its start fails, and
    everything it created is removed after it."""
    instance = f"e2e-traffic-{uuid.uuid4().hex[:8]}"
    daemon = Daemon(data_dir, docker=True, ingress=True, extra_args=[*flags, "--instance-id", instance])
    try:
        yield daemon.start()
    finally:
        if daemon.proc is not None:
            daemon.terminate()
        remove_engine_objects(instance)


def caddy_skip_reason() -> str | None:
    if not os.access(CADDY_BIN, os.X_OK):
        return "no caddy binary (apt-get install caddy, or set DEPLOYKIT_CADDY_BIN)"
    return None


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    problem = caddy_skip_reason()
    if problem is not None:
        if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1":
            pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    # Short on purpose: Caddy's admin socket lives in the data directory (sockaddr_un holds 108 bytes).
    data_dir = Path(tempfile.mkdtemp(prefix="dkt-"))
    http_port, https_port = free_port(), free_port()
    flags = ["--reconcile-interval", "2s", "--metrics-interval", "1s", "--caddy-bin", CADDY_BIN]
    flags += ["--http-port", str(http_port), "--https-port", str(https_port), "--no-https-redirect"]
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        daemon = stack.enter_context(docker_daemon(data_dir / "data", flags))
        p = Proxy(daemon, register_admin(daemon), http_port, https_port)
        p.project_id = create_project(p.admin, "Traffic")["id"]
        with p.admin.client() as c:
            staged = {
                "web": c.post(f"/projects/{p.project_id}/services", json=web_service("web")).json(),
                "files": c.post(f"/projects/{p.project_id}/services", json=web_service("files", volume=True)).json(),
            }
            ids = c.post(f"/projects/{p.project_id}/deploy").json()["temp_id_to_service_id"]
        p.services = {name: ids[change["target_temp_id"]] for name, change in staged.items()}
        with p.admin.client() as c:
            p.hosts = {name: c.get(svc_path(p, name)).json()["domains"][0] for name in p.services}
        for name, host in p.hosts.items():
            try:
                wait_for_sync(
                    partial(p.body, host), within=90, message=f"{name} to answer through Caddy", retry_on=UNSETTLED
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{daemon.log()[-6000:]}") from None
        yield p


def web_service(name: str, *, volume: bool = False, command: str = HTTPD) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "source": {"type": "image", "image": TEST_IMAGE},
        "port": 8080,
        "command": ["sh", "-c", command],
        "health_check": HEALTH,
    }
    if volume:
        body["volumes"] = [{"name": "data", "mount_path": "/data"}]
    return body


def host_of(p: Proxy, name: str) -> str:
    return p.hosts[name]


def svc_path(p: Proxy, name: str) -> str:
    return f"/projects/{p.project_id}/services/{p.services[name]}"


def newest_deployment(p: Proxy, name: str) -> dict[str, Any]:
    with p.admin.client() as c:
        return dict(c.get(f"{svc_path(p, name)}/deployments", params={"limit": 1}).json()["data"][0])


def redeploy_and_wait(p: Proxy, name: str, deadline_s: float = 60) -> dict[str, Any]:
    with p.admin.client() as c:
        r = c.post(f"{svc_path(p, name)}/redeploy")
        assert r.status_code == 201, r.text
        dep_id = r.json()["id"]

    def healthy() -> dict[str, Any] | None:
        with p.admin.client() as c:
            dep = c.get(f"{svc_path(p, name)}/deployments/{dep_id}").json()
        assert dep["status"] not in ("failed", "cancelled"), dep
        return dict(dep) if dep["status"] == "healthy" else None

    return wait_for_sync(healthy, within=deadline_s, message=f"deployment {dep_id} to be healthy", retry_on=UNSETTLED)


class Load:
    """A bounded load loop on loopback: one request at a time on a new connection each, at most
    ``max_requests`` and ``max_s`` seconds, until stopped."""

    def __init__(self, p: Proxy, host: str, *, max_requests: int = 4000, max_s: float = 120) -> None:
        self.p, self.host, self.max_requests, self.max_s = p, host, max_requests, max_s
        self.results: list[tuple[int, str]] = []
        """(status, body); status 0 for a transport error (body holds the error)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        end = time.monotonic() + self.max_s
        while not self._stop.is_set() and len(self.results) < self.max_requests and time.monotonic() < end:
            try:
                r = self.p.get(self.host, timeout=10)
                self.results.append((r.status_code, r.text.strip()))
            except httpx.HTTPError as exc:
                self.results.append((0, repr(exc)))
            self._stop.wait(0.01)

    def failures(self) -> list[tuple[int, str]]:
        return [r for r in self.results if r[0] != 200]


def test_generated_hostname_routes_to_the_container(proxy: Proxy) -> None:
    r = proxy.get(host_of(proxy, "web"))
    assert r.status_code == 200
    container = proxy.body(host_of(proxy, "web"))
    with proxy.admin.client() as c:
        records = c.get(f"{svc_path(proxy, 'web')}/containers").json()["data"]
        domains = c.get(f"{svc_path(proxy, 'web')}/domains").json()["data"]
    assert container is not None
    assert any(rec["id"].startswith(container) for rec in records)
    assert host_of(proxy, "web").startswith("web-traffic")
    assert host_of(proxy, "web").endswith(".localhost")
    assert [(d["hostname"], d["is_generated"], d["tls_status"]) for d in domains] == [
        (host_of(proxy, "web"), True, "internal")
    ]
    assert proxy.get("nobody.localhost").status_code == 404


def test_custom_domain_routes_and_its_removal_stops_routing(proxy: Proxy) -> None:
    with proxy.admin.client() as c:
        r = c.post(f"{svc_path(proxy, 'web')}/domains", json={"hostname": "Shop.Example.TEST"})
        assert r.status_code == 201, r.text
        assert r.json()["hostname"] == "shop.example.test"
        assert r.json()["is_generated"] is False
        taken = c.post(f"{svc_path(proxy, 'files')}/domains", json={"hostname": "shop.example.test"})
        assert (taken.status_code, taken.json()["error"]) == (409, "conflict")
        bad = c.post(f"{svc_path(proxy, 'web')}/domains", json={"hostname": "not a host"})
        assert (bad.status_code, bad.json()["error"]) == (422, "invalid")
        generated = c.delete(f"{svc_path(proxy, 'web')}/domains/{host_of(proxy, 'web')}")
        assert generated.status_code == 400, generated.text
    web = proxy.body(host_of(proxy, "web"))
    assert wait_for_sync(
        lambda: proxy.body("shop.example.test") == web,
        within=5,
        message="the custom domain to route",
        retry_on=UNSETTLED,
    )

    with proxy.admin.client() as c:
        assert c.delete(f"{svc_path(proxy, 'web')}/domains/shop.example.test").status_code == 204
        listed = [d["hostname"] for d in c.get(f"{svc_path(proxy, 'web')}/domains").json()["data"]]
    assert listed == [host_of(proxy, "web")]
    wait_for_sync(
        lambda: proxy.get("shop.example.test").status_code == 404,
        within=5,
        message="the removed domain to stop routing",
        retry_on=UNSETTLED,
    )
    assert proxy.body(host_of(proxy, "web")) == web


def https_get(proxy: Proxy, host: str, context: ssl.SSLContext) -> bytes:
    raw = socket.create_connection(("127.0.0.1", proxy.https_port), timeout=5)
    with context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_https_answers_for_a_localhost_name_with_the_internal_issuer(proxy: Proxy) -> None:
    root = proxy.caddy_dir / "storage" / "pki" / "authorities" / "local" / "root.crt"
    context = ssl.create_default_context(
        cafile=str(wait_for_sync(lambda: root.exists() and root, within=10, message="Caddy's CA", retry_on=UNSETTLED))
    )
    host = host_of(proxy, "web")
    answer = wait_for_sync(
        lambda: https_get(proxy, host, context), within=10, message="an HTTPS answer", retry_on=UNSETTLED
    )
    assert answer.startswith(b"HTTP/1.1 200")
    body = proxy.body(host)
    assert body is not None
    assert body in answer.decode()


def test_caddy_killed_is_restarted_with_every_route(proxy: Proxy) -> None:
    pid_file = proxy.caddy_dir / "caddy.pid"
    old_pid = int(pid_file.read_text())
    hosts = [host_of(proxy, name) for name in proxy.services]
    before = {h: proxy.body(h) for h in hosts}
    assert all(before.values())
    os.kill(old_pid, signal.SIGKILL)
    wait_for_sync(
        lambda: all(proxy.body(h) == before[h] for h in hosts),
        within=10,
        message="every route back",
        retry_on=UNSETTLED,
    )
    assert int(pid_file.read_text()) != old_pid
    with proxy.admin.client() as c:
        assert c.get("/health").json()["services"]["ingress"] is True


def test_sites_keep_serving_while_the_daemon_stops_and_starts_and_caddy_is_adopted(proxy: Proxy) -> None:
    pid_file = proxy.caddy_dir / "caddy.pid"
    caddy = int(pid_file.read_text())
    hosts = [host_of(proxy, name) for name in proxy.services]
    with Load(proxy, host_of(proxy, "web")) as load:
        wait_for_sync(lambda: len(load.results) >= 5, within=10, message="the load to start", retry_on=(Exception,))
        assert proxy.daemon.terminate(keep_caddy=True) == 0
        stopped = len(load.results)
        # The daemon is gone, its Caddy is not: every site still answers.
        wait_for_sync(
            lambda: len(load.results) >= stopped + 20,
            within=10,
            message="requests while the daemon is down",
            retry_on=(Exception,),
        )
        assert all(proxy.body(h) for h in hosts)
        proxy.daemon.start()  # returns once /api/health answers: Caddy was adopted or replaced by then
        restarted = len(load.results)
        wait_for_sync(
            lambda: len(load.results) >= restarted + 20,
            within=10,
            message="requests after the start",
            retry_on=(Exception,),
        )
    assert load.failures() == []
    assert int(pid_file.read_text()) == caddy
    assert all(proxy.body(h) for h in hosts)
    with proxy.admin.client() as c:
        assert c.get("/health").json()["services"]["ingress"] is True


def test_five_redeploys_under_load_see_only_2xx(proxy: Proxy) -> None:
    host = host_of(proxy, "web")
    served = set()
    with Load(proxy, host) as load:
        wait_for_sync(lambda: len(load.results) >= 5, within=10, message="the load to start", retry_on=UNSETTLED)
        for _ in range(5):
            redeploy_and_wait(proxy, "web")
            wait_for_sync(
                lambda: proxy.body(host) not in served,
                within=10,
                message="the new replica to answer",
                retry_on=UNSETTLED,
            )
            served.add(proxy.body(host))
    assert load.failures() == []
    assert len(load.results) > 100
    assert len({body for _, body in load.results}) >= 5  # the load saw the switches


def test_a_deployment_that_never_becomes_healthy_gets_no_traffic(proxy: Proxy) -> None:
    host = host_of(proxy, "web")
    serving = proxy.body(host)
    with Load(proxy, host, max_s=90) as load:
        with proxy.admin.client() as c:
            broken = {"command": ["sh", "-c", "echo broken; sleep 0.5; exit 3"]}
            assert c.patch(svc_path(proxy, "web"), json=broken).status_code == 200
            assert c.post(f"/projects/{proxy.project_id}/deploy").status_code == 200

        def failed() -> bool:
            dep = newest_deployment(proxy, "web")
            assert dep["status"] != "healthy", dep
            return bool(dep["status"] == "failed")

        wait_for_sync(failed, within=60, message="the broken deployment to fail", retry_on=UNSETTLED)
    assert load.results
    assert load.failures() == []
    assert {body for _, body in load.results} == {serving}
    assert proxy.body(host) == serving


def test_a_service_with_a_volume_rolls_stop_first_and_says_so(proxy: Proxy) -> None:
    with proxy.admin.client() as c:
        rollouts = {name: c.get(svc_path(proxy, name)).json()["rollout"] for name in proxy.services}
    assert rollouts == {"web": "start-first", "files": "stop-first"}
    dep = redeploy_and_wait(proxy, "files")
    with proxy.admin.client() as c:
        log = c.get(f"{svc_path(proxy, 'files')}/deployments/{dep['id']}/logs").json()["log"]
    assert "stopping the previous replicas first" in log
    wait_for_sync(
        lambda: proxy.body(host_of(proxy, "files")), within=10, message="the new replica to answer", retry_on=UNSETTLED
    )


def test_unreachable_caddy_shows_in_health_and_does_not_block_deploys(tmp_path: Path) -> None:
    admin_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with docker_daemon(tmp_path / "d", ["--caddy-admin", admin_url]) as daemon:
        admin = register_admin(daemon)
        pid = create_project(admin, "Offline")["id"]
        with admin.client() as c:
            assert c.get("/health").json()["services"]["ingress"] is False
            assert c.get("/system/status").json()["ingress"]["reachable"] is False
            temp = c.post(f"/projects/{pid}/services", json=web_service("web")).json()["target_temp_id"]
            sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]

        def healthy() -> bool:
            with admin.client() as c:
                return bool(c.get(f"/projects/{pid}/services/{sid}").json()["status"] == "running")

        wait_for_sync(healthy, within=60, message="the service to run without Caddy", retry_on=UNSETTLED)


def test_health_and_metrics_of_a_running_service(proxy: Proxy) -> None:
    def health() -> dict[str, Any] | None:
        with proxy.admin.client() as c:
            body = dict(c.get(f"{svc_path(proxy, 'files')}/health").json())
        return body if body["status"] == "healthy" and body["replicas"] and body["results"] else None

    body = wait_for_sync(health, within=15, message="health results of the running replica", retry_on=UNSETTLED)
    [replica] = body["replicas"]
    assert replica["healthy"] is True
    assert replica["last_result"]["ok"] is True
    assert body["results"][0]["ok"] is True
    assert body["results"][0]["status_code"] == 200

    def metrics() -> dict[str, Any] | None:
        with proxy.admin.client() as c:
            body = dict(c.get(f"{svc_path(proxy, 'files')}/metrics", params={"step": 2}).json())
        return body if len(body["total"]) >= 2 else None

    # The background sampler stored the running replica's stats; the API reads them back.
    body = wait_for_sync(metrics, within=30, message="two stored samples of the replica", retry_on=UNSETTLED)
    [series] = body["replicas"]
    assert series["replica_index"] == 0
    assert all(p["memory_bytes"] > 0 for p in body["total"])
    assert body["range"]["resolution"] == 0
    with proxy.admin.client() as c:
        assert c.get(f"{svc_path(proxy, 'files')}/metrics", params={"since": "nonsense"}).status_code == 422
        host = c.get("/system/metrics", params={"step": 2}).json()
        history = c.get(f"{svc_path(proxy, 'files')}/health/history").json()
    assert host["points"]
    assert host["points"][-1]["memory_total_bytes"] > 0
    assert history["probes"]
    assert {p["replica_index"] for p in history["probes"]} == {0}
    assert history["probes"][-1]["ok"] is True


def run_caddy(directory: Path, admin: str) -> subprocess.Popen[bytes]:
    """A Caddy DeployKit does not supervise, with only its admin API configured (as a fresh install)."""
    config = directory / "caddy.json"
    config.write_text(json.dumps({"admin": {"listen": admin, "config": {"persist": False}}}))
    env = {**os.environ, "XDG_DATA_HOME": str(directory / "data"), "XDG_CONFIG_HOME": str(directory / "config")}
    process = subprocess.Popen(
        [CADDY_BIN, "run", "--config", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_sync(
        lambda: httpx.get(f"http://{admin}/config/", timeout=1).status_code == 200,
        within=10,
        message="Caddy's admin API",
        retry_on=UNSETTLED,
    )
    return process


def test_an_existing_caddy_gets_every_route_back_after_it_restarts(tmp_path: Path) -> None:
    admin_addr = f"127.0.0.1:{free_port()}"
    http_port = free_port()
    caddy = run_caddy(tmp_path, admin_addr)
    flags = ["--caddy-admin", f"http://{admin_addr}", "--http-port", str(http_port), "--https-port", str(free_port())]
    flags.append("--no-https-redirect")
    try:
        with docker_daemon(tmp_path / "d", flags) as daemon:
            admin = register_admin(daemon)
            pid = create_project(admin, "External")["id"]
            with admin.client() as c:
                temp = c.post(f"/projects/{pid}/services", json=web_service("web")).json()["target_temp_id"]
                sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]
                host = c.get(f"/projects/{pid}/services/{sid}").json()["domains"][0]

            def body() -> str | None:
                try:
                    r = httpx.get(f"http://127.0.0.1:{http_port}/", headers={"Host": host}, timeout=2)
                except httpx.HTTPError:
                    return None
                return r.text.strip() if r.status_code == 200 else None

            serving = wait_for_sync(
                body, within=60, message="the service to answer through the existing Caddy", retry_on=UNSETTLED
            )
            caddy.kill()
            caddy.wait(10)
            caddy = run_caddy(tmp_path, admin_addr)  # back with an empty config
            restarted = time.monotonic()
            wait_for_sync(
                lambda: body() == serving,
                within=5,
                message="the route back in the restarted Caddy",
                retry_on=UNSETTLED,
            )
            assert time.monotonic() - restarted < 2.0
    finally:
        caddy.kill()
        caddy.wait(10)
