"""Fixtures for the Caddy adapter: a real supervised Caddy on free loopback ports, an ingress
talking to it, and busybox httpd containers as upstreams. Tests marked ``caddy`` skip without a
``caddy`` binary, except when ``DEPLOYKIT_REQUIRE_DOCKER=1`` (CI), where they fail instead."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from deploykit.ingress import Route
from deploykit_caddy import CaddyIngress, CaddySettings, CaddySupervisor, SupervisorSettings
from tests.wait import wait_for

CADDY_BIN = os.environ.get("DEPLOYKIT_CADDY_BIN") or shutil.which("caddy") or "/usr/bin/caddy"


def caddy_problem() -> str | None:
    if not os.access(CADDY_BIN, os.X_OK):
        return "no caddy binary (apt-get install caddy, or set DEPLOYKIT_CADDY_BIN)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("caddy") is None:
        return
    problem = caddy_problem()
    if problem is None:
        return
    if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1":
        pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
    pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proxy:
    """A running, supervised Caddy and the ingress that drives it. ``database`` plays the role of
    deploykitd's database: the supervisor's callback syncs it after every (re)start."""

    ingress: CaddyIngress
    supervisor: CaddySupervisor
    settings: CaddySettings
    data_dir: Path
    database: dict[str, Route] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.settings.https_port}"

    def root_ca(self) -> Path:
        return self.data_dir / "storage" / "pki" / "authorities" / "local" / "root.crt"

    async def get(self, host: str, path: str = "/") -> httpx.Response:
        async with httpx.AsyncClient(timeout=5.0) as client:
            return await client.get(f"{self.http_url}{path}", headers={"Host": host})


@pytest.fixture
def caddy_dir() -> Iterator[Path]:
    # Short on purpose: the admin socket path must fit in a sockaddr_un (108 bytes).
    path = Path(tempfile.mkdtemp(prefix="dkc-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def loopback_settings(data_dir: Path, *, redirect_http: bool = False) -> CaddySettings:
    """A Caddy serving on free loopback ports, its storage under ``data_dir``."""
    return CaddySettings(
        http_port=free_port(),
        https_port=free_port(),
        listen_host="127.0.0.1",
        redirect_http=redirect_http,
        storage_dir=str(data_dir / "storage"),
    )


async def start_proxy(data_dir: Path, *, redirect_http: bool = False) -> Proxy:
    settings = loopback_settings(data_dir, redirect_http=redirect_http)
    sup_settings = SupervisorSettings(data_dir=str(data_dir), caddy_bin=CADDY_BIN, backoff_initial_s=0.05)
    ingress = CaddyIngress(sup_settings.admin_url, settings=settings)
    proxy: Proxy

    async def resync() -> None:
        await ingress.sync_routes(list(proxy.database.values()))

    supervisor = CaddySupervisor(settings=sup_settings, on_start=resync)
    proxy = Proxy(ingress, supervisor, settings, data_dir)
    await ingress.open()
    await supervisor.open()
    return proxy


async def stop_proxy(proxy: Proxy) -> None:
    await proxy.supervisor.close()
    await proxy.ingress.close()


@pytest.fixture
async def proxy(caddy_dir: Path) -> AsyncIterator[Proxy]:
    p = await start_proxy(caddy_dir)
    yield p
    await stop_proxy(p)


# -- upstream containers ----------------------------------------------------------------------


async def docker(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "docker", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {err.decode().strip()}")
    return out.decode().strip()


@dataclass
class Upstreams:
    """Starts busybox httpd containers that answer ``GET /`` with their own name."""

    image: str
    ids: list[str] = field(default_factory=list)
    by_address: dict[str, str] = field(default_factory=dict)

    async def start(self, body: str, port: int = 8080) -> str:
        """Run one and return its ``ip:port`` once it answers."""
        name = f"dk-caddy-test-{body}-{uuid.uuid4().hex[:8]}"
        script = f"echo {body} > /www/index.html && exec httpd -f -p {port} -h /www"
        cid = await docker("run", "-d", "--label", "deploykit-test=1", "--name", name, self.image, "sh", "-c", script)
        self.ids.append(cid)
        ip = await docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid)
        address = f"{ip}:{port}"
        self.by_address[address] = cid

        async def answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=1.0) as client:
                    return (await client.get(f"http://{address}/")).text.strip() == body
            except httpx.HTTPError:
                return False

        await wait_for(answers, within=15, message=f"container {name} to answer")
        return address

    async def stop(self, address: str) -> None:
        await docker("stop", "-t", "2", self.by_address[address])

    async def remove_all(self) -> None:
        if self.ids:
            await docker("rm", "-f", *self.ids)
            self.ids.clear()


@pytest.fixture
async def upstreams(test_image: str) -> AsyncIterator[Upstreams]:
    u = Upstreams(test_image)
    yield u
    await u.remove_all()
