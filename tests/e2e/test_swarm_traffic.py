"""``deploykitd --runtime swarm`` end to end: the real daemon on a single-node swarm manager (``make
swarm``), supervising a real Caddy; a service deployed through the API answers through Caddy, and
redeploys under load see only 2xx. A daemon asked for ``--runtime swarm`` on an engine that is not
a manager refuses to start and says why.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from deploykit_swarm.convert import to_reap
from tests.e2e.support import UNSETTLED, Daemon, create_project, free_port, register_admin, remove_engine_objects
from tests.e2e.test_traffic import (
    CADDY_BIN,
    Load,
    Proxy,
    caddy_skip_reason,
    host_of,
    redeploy_and_wait,
    svc_path,
    web_service,
)
from tests.runtime_contract.conftest import swarm_problem
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.caddy, pytest.mark.slow]


def remove_swarm_services(instance_id: str) -> None:
    ids = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter", f"label=deploykit.instance={instance_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    if not ids:
        return
    # Scaled to 0 and reaped first: removing a service while Swarm reaps its tasks can crash the
    # 20.10 engine (see deploykit_swarm.runtime.SwarmRuntime.remove_container).
    subprocess.run(["docker", "service", "scale", "-d", *(f"{i}=0" for i in ids)], capture_output=True, timeout=60)

    def reaped() -> bool:
        """Nothing the reaper still has to delete (a crash-looped slot's failed tasks stay: Swarm
        keeps that history, and waiting for it to vanish would wait out the deadline)."""
        tasks = subprocess.run(
            ["docker", "service", "ps", "-q", "--no-trunc", *ids], capture_output=True, text=True, timeout=30
        ).stdout.split()
        if not tasks:
            return True
        found = subprocess.run(
            ["docker", "inspect", "--type", "task", *tasks], capture_output=True, text=True, timeout=30
        )
        return not any(to_reap(t) for t in json.loads(found.stdout or "[]"))

    with contextlib.suppress(AssertionError):
        wait_for_sync(reaped, within=30, message="the services' tasks to be reaped")
    subprocess.run(["docker", "service", "rm", *ids], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def swarm_proxy() -> Iterator[Proxy]:
    problem = caddy_skip_reason() or swarm_problem()
    if problem is not None:
        if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1":
            pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    data_dir = Path(tempfile.mkdtemp(prefix="dks-"))  # short: Caddy's admin socket lives in it
    http_port, https_port = free_port(), free_port()
    instance = f"e2e-swarm-{uuid.uuid4().hex[:8]}"
    flags = ["--runtime", "swarm", "--instance-id", instance, "--reconcile-interval", "2s", "--caddy-bin", CADDY_BIN]
    flags += ["--http-port", str(http_port), "--https-port", str(https_port), "--no-https-redirect"]
    daemon = Daemon(data_dir / "data", docker=True, ingress=True, extra_args=flags)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        stack.callback(remove_engine_objects, instance)
        stack.callback(remove_swarm_services, instance)
        daemon.start()
        stack.callback(lambda: daemon.terminate() if daemon.proc is not None else None)
        p = Proxy(daemon, register_admin(daemon), http_port, https_port)
        p.project_id = create_project(p.admin, "Swarm")["id"]
        with p.admin.client() as c:
            staged = {"web": c.post(f"/projects/{p.project_id}/services", json=web_service("web")).json()}
            ids = c.post(f"/projects/{p.project_id}/deploy").json()["temp_id_to_service_id"]
        p.services = {name: ids[change["target_temp_id"]] for name, change in staged.items()}
        with p.admin.client() as c:
            p.hosts = {name: c.get(svc_path(p, name)).json()["domains"][0] for name in p.services}
        try:
            wait_for_sync(partial(p.body, p.hosts["web"]), within=90, message="web through Caddy", retry_on=UNSETTLED)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{daemon.log()[-6000:]}") from None
        yield p


def test_a_service_runs_as_a_swarm_service_and_answers_through_caddy(swarm_proxy: Proxy) -> None:
    service_id = swarm_proxy.services["web"]
    names = subprocess.run(
        ["docker", "service", "ls", "--format", "{{.Name}}", "--filter", f"label=deploykit.service-id={service_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert len(names) == 1
    assert names[0].startswith("dk_swarm")
    assert swarm_proxy.body(host_of(swarm_proxy, "web"))


def test_redeploys_under_load_see_only_2xx(swarm_proxy: Proxy) -> None:
    host = host_of(swarm_proxy, "web")
    served = {swarm_proxy.body(host)}
    with Load(swarm_proxy, host) as load:
        wait_for_sync(lambda: len(load.results) >= 5, within=10, message="the load to start", retry_on=UNSETTLED)
        for _ in range(3):
            redeploy_and_wait(swarm_proxy, "web", deadline_s=90)
            wait_for_sync(
                lambda: swarm_proxy.body(host) not in served,
                within=20,
                message="the new replica to answer",
                retry_on=UNSETTLED,
            )
            served.add(swarm_proxy.body(host))
    assert load.failures() == []
    assert len(load.results) > 50
    assert len({body for _, body in load.results}) >= 3  # the load saw the switches


class _NotAManager(BaseHTTPRequestHandler):
    """A Docker engine API that is not in a swarm (``GET /info``, ``/version``, ``/_ping``)."""

    def do_GET(self) -> None:
        body = b'{"Swarm": {"LocalNodeState": "inactive", "ControlAvailable": false}, "ApiVersion": "1.41"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_runtime_swarm_refuses_an_engine_that_is_not_a_manager(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = HTTPServer(("127.0.0.1", port), _NotAManager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        daemon = Daemon(tmp_path / "data", docker=True, extra_args=["--runtime", "swarm"])
        command = [a for a in daemon.command() if a != "unix:///nonexistent/docker.sock"]
        command += ["--docker-host", f"tcp://127.0.0.1:{port}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert done.returncode == 1
    assert "needs a swarm manager" in done.stdout + done.stderr
    assert "docker swarm init" in done.stdout + done.stderr
