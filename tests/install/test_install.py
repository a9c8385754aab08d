"""``install.sh`` in a real Debian 12 with systemd as PID 1, then the installed DeployKit at work.

One container of ``deploykit-test/debian:12`` (``scripts/build-debian-image.sh``: debootstrap plus
``docker import``, nothing pulled) boots systemd, shares the host's network (the daemon reaches the
containers it deploys as on a VM) and the host's Docker socket. ``install.sh`` runs in it with the
release as ``make dist`` builds it: Caddy comes from Debian's mirror (``apt-get``), DeployKit's
Python dependencies from a wheelhouse downloaded on the host (``pip download``: the container has no
route to PyPI here). The tests then share that machine, in order: it runs, a service deploys and
answers through Caddy, ``systemctl restart deploykitd`` under load fails no request, and running
the installer again upgrades in place while the sites keep serving.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_IMAGE, docker_required
from tests.e2e.support import PASSWORD, UNSETTLED, free_port, remove_engine_objects
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("DEPLOYKIT_DEBIAN_IMAGE", "deploykit-test/debian:12")
WHEELHOUSE = ROOT / ".stamps" / "wheelhouse"
HTTPD = "echo $HOSTNAME > /www/index.html; trap 'kill $!; exit 0' TERM; httpd -f -p 8080 -h /www & wait"


@dataclass
class VM:
    """The Debian machine, the ports its DeployKit and Caddy got, and its first admin."""

    name: str
    api_port: int
    http_port: int
    instance: str
    env: dict[str, str] = field(default_factory=dict)
    """The installer's environment (pip's wheelhouse, the first install's settings)."""
    installs: list[str] = field(default_factory=list)
    """The installer's output, one entry per run."""
    token: str = ""
    host: str = ""
    """The deployed service's generated hostname."""

    def sh(self, script: str, *, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["docker", "exec", self.name, "bash", "-c", script], capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{script!r} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def install(self) -> str:
        env = [arg for key, value in self.env.items() for arg in ("-e", f"{key}={value}")]
        done = subprocess.run(
            ["docker", "exec", *env, self.name, "bash", "-c", "cd /release && ./install.sh 2>&1"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            journal = self.sh("journalctl -u deploykitd -u caddy --no-pager | tail -40", check=False).stdout
            raise AssertionError(f"install.sh exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n{journal}")
        self.installs.append(done.stdout)
        return done.stdout

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}/api", headers=headers, timeout=10)

    def body(self) -> str | None:
        """The deployed service's answer through Caddy, on a new connection."""
        try:
            r = httpx.get(f"http://127.0.0.1:{self.http_port}/", headers={"Host": self.host}, timeout=3)
        except httpx.HTTPError:
            return None
        return r.text.strip() if r.status_code == 200 else None

    def healthy(self) -> bool:
        with self.api() as c:
            return c.get("/health").status_code == 200

    def main_pid(self, unit: str) -> int:
        return int(self.sh(f"systemctl show -p MainPID --value {unit}").stdout.strip())


def problem() -> str | None:
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=30).returncode != 0:
        return f"the Debian image {IMAGE} is missing (run scripts/build-debian-image.sh)"
    if not (ROOT / "deploykit_http" / "spa_assets" / "index.html").is_file():
        return "the web UI is not built (make frontend)"
    return None


def release(directory: Path) -> Path:
    """What ``make dist`` ships (the wheel, with the web UI and the units inside, and install.sh),
    and the wheelhouse of its dependencies."""
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(directory), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    shutil.copy(ROOT / "install.sh", directory / "install.sh")
    wheel = next(directory.glob("deploykit-*.whl"))
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    # pip download keeps a file it finds already there and resolves from its metadata: an older
    # build of this wheel would hide dependencies added since.
    for stale in WHEELHOUSE.glob("deploykit-*.whl"):
        stale.unlink()
    download = [sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE), str(wheel)]
    subprocess.run(download, check=True, capture_output=True, timeout=600)
    return directory


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VM]:
    reason = problem()
    if reason is not None:
        if docker_required():
            pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    dist = release(tmp_path_factory.mktemp("release"))
    machine = VM(f"dk-install-{uuid.uuid4().hex[:8]}", free_port(), free_port(), f"install-{uuid.uuid4().hex[:8]}")
    # Free ports (the host's network is shared) and this test's instance id; the rest is the
    # installer's default. Upgrades keep what the first install wrote.
    machine.env = {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": "/wheelhouse",
        "DEPLOYKIT_ADDR": f"127.0.0.1:{machine.api_port}",
        "DEPLOYKIT_HTTP_PORT": str(machine.http_port),
        "DEPLOYKIT_HTTPS_PORT": str(free_port()),
        "DEPLOYKIT_CADDY_ADMIN": f"127.0.0.1:{free_port()}",
        "DEPLOYKIT_FLAGS": f"--instance-id {machine.instance} --no-https-redirect",
    }
    # systemd as PID 1: --privileged fails on these machines; this set works.
    run = ["docker", "run", "-d", "--name", machine.name, "--network", "host", "--cap-add", "SYS_ADMIN"]
    run += ["--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro"]
    run += ["--stop-signal", "SIGRTMIN+3", "-v", "/var/run/docker.sock:/var/run/docker.sock"]
    run += ["-v", f"{dist}:/release:ro", "-v", f"{WHEELHOUSE}:/wheelhouse:ro", IMAGE]
    subprocess.run(run, check=True, capture_output=True, timeout=60)
    try:
        wait_for_sync(
            lambda: machine.sh("systemctl is-system-running", check=False).stdout.strip() in ("running", "degraded"),
            within=60,
            message="systemd to boot",
            retry_on=UNSETTLED,
        )
        yield machine
    finally:
        subprocess.run(["docker", "rm", "-f", machine.name], capture_output=True, timeout=120)
        remove_engine_objects(machine.instance)


class Load:
    """Requests through Caddy to the deployed service, one at a time on a new connection each."""

    def __init__(self, vm: VM) -> None:
        self.vm = vm
        self.results: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        wait_for_sync(lambda: len(self.results) >= 5, within=10, message="the load to start", retry_on=UNSETTLED)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        url = f"http://127.0.0.1:{self.vm.http_port}/"
        end = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                r = httpx.get(url, headers={"Host": self.vm.host}, timeout=10)
                self.results.append((r.status_code, r.text.strip()))
            except httpx.HTTPError as exc:
                self.results.append((0, repr(exc)))
            self._stop.wait(0.01)

    def failures(self) -> list[tuple[int, str]]:
        return [r for r in self.results if r[0] != 200]


def test_install_runs_deploykitd_and_caddy_as_services(vm: VM) -> None:
    out = vm.install()

    assert f"Open http://127.0.0.1:{vm.api_port}/" in out or f":{vm.api_port}/ (the first visit" in out, out
    assert vm.sh("systemctl is-active deploykitd caddy").stdout.split() == ["active", "active"]
    assert vm.sh("systemctl is-enabled deploykitd caddy").stdout.split() == ["enabled", "enabled"]
    # DeployKit from the wheel in its venv, its data and flags where the issue says.
    assert vm.sh("/opt/deploykit/bin/deploykitd version").stdout.startswith("deploykitd ")
    assert vm.sh("stat -c %a /var/lib/deploykit").stdout.strip() == "700"
    assert (
        f"--caddy-admin http://{vm.env['DEPLOYKIT_CADDY_ADMIN']}" in vm.sh("cat /etc/deploykit/deploykitd.env").stdout
    )
    # Hardened, restarted on failure, and not the parent of Caddy.
    unit = vm.sh("systemctl show deploykitd -p Restart -p ProtectSystem -p NoNewPrivileges").stdout.split()
    assert sorted(unit) == ["NoNewPrivileges=yes", "ProtectSystem=strict", "Restart=on-failure"]
    with vm.api() as c:
        health = c.get("/health").json()
    assert health["services"]["docker"] is True
    assert health["services"]["ingress"] is True


def test_a_service_deploys_and_answers_through_caddy(vm: VM) -> None:
    with vm.api() as c:
        r = c.post("/auth/register", json={"email": "admin@example.com", "name": "Ada", "password": PASSWORD})
        assert r.status_code == 201, r.text
        vm.token = r.json()["tokens"]["access_token"]
    with vm.api() as c:
        project = c.post("/projects", json={"name": "Installed"}).json()["id"]
        body: dict[str, Any] = {"name": "web", "source": {"type": "image", "image": TEST_IMAGE}, "port": 8080}
        body |= {
            "command": ["sh", "-c", HTTPD],
            "health_check": {"type": "http", "path": "/", "interval_s": 1, "timeout_s": 1},
        }
        staged = c.post(f"/projects/{project}/services", json=body)
        assert staged.is_success, staged.text
        deployed = c.post(f"/projects/{project}/deploy")
        assert deployed.status_code == 200, deployed.text
        service = deployed.json()["temp_id_to_service_id"][staged.json()["target_temp_id"]]
        vm.host = c.get(f"/projects/{project}/services/{service}").json()["domains"][0]
    wait_for_sync(vm.body, within=90, message="the service to answer through the installed Caddy", retry_on=UNSETTLED)


def test_restarting_deploykitd_under_load_fails_no_request(vm: VM) -> None:
    assert vm.host, "needs the deployed service"
    caddy = vm.main_pid("caddy")
    daemon = vm.main_pid("deploykitd")
    with Load(vm) as load:
        vm.sh("systemctl restart deploykitd")
        wait_for_sync(vm.healthy, within=60, message="the restarted daemon to answer", retry_on=UNSETTLED)
        answered = len(load.results)
        wait_for_sync(
            lambda: len(load.results) >= answered + 20,
            within=10,
            message="requests after the restart",
            retry_on=UNSETTLED,
        )
    assert load.failures() == []
    assert vm.main_pid("deploykitd") != daemon
    assert vm.main_pid("caddy") == caddy


def test_running_the_installer_again_upgrades_in_place_while_the_sites_serve(vm: VM) -> None:
    assert vm.host, "needs the deployed service"
    caddy = vm.main_pid("caddy")
    flags = vm.sh("cat /etc/deploykit/deploykitd.env").stdout
    with Load(vm) as load:
        out = vm.install()
        answered = len(load.results)
        wait_for_sync(
            lambda: len(load.results) >= answered + 20,
            within=10,
            message="requests after the upgrade",
            retry_on=UNSETTLED,
        )
    assert "upgraded" in out, out
    assert "The database is up to date." in out, out  # deploykitd migrate ran (it backs up when due)
    assert load.failures() == []
    assert vm.main_pid("caddy") == caddy  # the sites' proxy was never restarted
    assert vm.sh("cat /etc/deploykit/deploykitd.env").stdout == flags
    assert vm.sh("systemctl is-active deploykitd caddy").stdout.split() == ["active", "active"]
    with vm.api() as c:
        assert [p["name"] for p in c.get("/projects").json()["data"]] == ["Installed"]
