"""Shared pieces of the benchmarks: a daemon (or the daemon's app plus a bare route) in a child
process on a free port, seeding through the API, and resident memory of a process.

Run as a script it is that child: ``python bench/_support.py serve --data-dir D --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark password"
NO_DOCKER = "unix:///nonexistent/docker.sock"


TEST_IMAGE = os.environ.get("DEPLOYKIT_TEST_IMAGE", "deploykit-test/busybox:latest")
HTTPD_SCRIPT = "mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"
"""A busybox web server on 8080 that answers ``ok``: the service the runtime benchmarks deploy."""


async def http_ok(host: str, port: int, within: float = 1.0) -> bool:
    """Whether ``GET /`` on ``host:port`` answers 200 within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            await writer.drain()
            line = await reader.readline()
            writer.close()
    except (OSError, TimeoutError):
        return False
    return line.split()[1:2] == [b"200"]


def engine_reconciler(store: Any, runtime: Any, bus: Any, settings: Any) -> Any:
    """The reconciler wired as deploykitd wires it (without ingress or builds), for in-process
    benchmarks against the real engine."""
    from deploykit_docker import SocketHealthProbe
    from deploykit_reconciler import Reconciler

    return Reconciler(
        runtime=runtime,
        logs=runtime,
        probe=SocketHealthProbe(),
        projects=store.projects,
        services=store.services,
        deployments=store.deployments,
        containers=store.containers,
        bus=bus,
        settings=settings,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def wait_healthy(server: Server, deadline_s: float = 30) -> None:
    import httpx

    from tests.wait import wait_for_sync

    def healthy() -> bool:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}")
        return httpx.get(f"{server.base}/api/health", timeout=1).status_code == 200

    wait_for_sync(healthy, within=deadline_s, message="the server to answer /api/health", retry_on=(httpx.HTTPError,))


@contextmanager
def server(data_dir: Path, *, bare_route: bool = False) -> Iterator[Server]:
    """The real daemon (``bare_route`` adds ``GET /api/bench/bare`` behind the same middleware)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    env.pop("DOCKER_HOST", None)
    if bare_route:
        cmd = [sys.executable, str(Path(__file__)), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    else:
        cmd = [
            sys.executable,
            "-m",
            "deploykitd",
            "serve",
            "-addr",
            f"127.0.0.1:{port}",
            "-data-dir",
            str(data_dir),
            "-docker-host",
            NO_DOCKER,
            "-log-level",
            "warning",
            "-api-rate-limit",
            "0",  # a benchmark is the one client that means to flood the API
            "-stop-caddy",  # a Caddy it may start goes with it (it outlives a daemon otherwise)
        ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv = Server(proc, port)
    try:
        wait_healthy(srv)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def register(base: str) -> str:
    import httpx

    r = httpx.post(
        f"{base}/api/auth/register", json={"email": "bench@example.com", "name": "Bench", "password": PASSWORD}
    )
    r.raise_for_status()
    return str(r.json()["tokens"]["access_token"])


async def seed(base: str, token: str, projects: int, services_per_project: int = 0) -> list[str]:
    """Create projects (and staged + applied services); the project ids."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{base}/api", headers=headers, timeout=60) as c:
        ids: list[str] = []
        for i in range(projects):
            r = await c.post("/projects", json={"name": f"Project {i:03d}"})
            r.raise_for_status()
            pid = r.json()["id"]
            ids.append(pid)
            for j in range(services_per_project):
                body = {"name": f"svc{j}", "source": {"type": "image", "image": "nginx:1.27"}, "port": 80}
                (await c.post(f"/projects/{pid}/services", json=body)).raise_for_status()
            if services_per_project:
                (await c.post(f"/projects/{pid}/deploy")).raise_for_status()
        return ids


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _serve_with_bare_route(data_dir: str, port: int) -> None:
    """The daemon's own composition, plus one bare JSON route behind the same middleware."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from deploykitd.config import Config
    from deploykitd.main import Main

    async def bare(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def run() -> None:
        main = Main(
            Config(
                addr=f"127.0.0.1:{port}",
                data_dir=Path(data_dir),
                docker_host=NO_DOCKER,
                log_level="warning",
                api_rate=0,
                keep_caddy=False,  # a Caddy it may start goes with it (it outlives a daemon otherwise)
            )
        )
        await main.open()
        assert main.app is not None
        for route in main.app.router.routes:
            if isinstance(route, Mount) and route.path == "/api":
                route.routes.insert(0, Route("/bench/bare", bare, methods=["GET"]))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await main.run(stop)
        finally:
            await main.close()

    asyncio.run(run())


if __name__ == "__main__":
    # ``make bench`` runs every bench/*.py: without the ``serve`` command this is a no-op.
    if sys.argv[1:2] == ["serve"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("command", choices=["serve"])
        parser.add_argument("--data-dir", required=True)
        parser.add_argument("--port", type=int, required=True)
        args: Any = parser.parse_args()
        _serve_with_bare_route(args.data_dir, args.port)
