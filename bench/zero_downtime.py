"""Zero-downtime rollouts through Caddy: through the real daemon (the default), or at the proxy level.

``--mode daemon`` (what issue 7 names): a real ``deploykitd`` supervising its own Caddy on loopback
ports deploys two busybox httpd services through its API. While ``--rate`` requests/s per client go
through Caddy by Host header, the start-first service (no volume) is redeployed ``--rollouts`` times
through ``POST .../redeploy`` (start, readiness, one-change route switch, 10 s drain, SIGTERM); then, for
contrast, the same load goes to a service with a volume, which the daemon rolls stop-then-start, for
``--naive`` redeploys. A switch window runs from the redeploy request until the old replica is gone
(+0.5 s); failed requests and p99 in those windows are compared with the steady p99 before them.

``--mode proxy``: the same switches driven straight through ``CaddyIngress``, as described below.

A supervised Caddy on loopback routes ``web.localhost`` to busybox httpd containers. While an
open-loop load of ``--rate`` requests/s runs through it, the service is redeployed ``--rollouts``
times the way the reconciler rolls a stateless service: start the new container, wait until it
answers, switch the route in one admin change (``CaddyIngress.set_route``), keep the old one for
``--drain`` seconds, then stop it (SIGTERM). For contrast, ``--naive`` more redeploys stop the old
container first, then start the new one and switch once it answers. Replicas take ``--boot``
seconds to listen, as real applications do; Caddy holds a request for at most ``try_duration``
(5 s), so a naive gap shorter than that shows up as latency, a longer one as failures.

Three clients send the same load at once, because the one failure mode left is the client's:
- ``fresh``: a new connection per request;
- ``keepalive+retry``: pooled connections; an idempotent request whose reused connection was closed
  before any response byte is retried once, as browsers and Go's client do (RFC 9112 §9.3.1);
- ``keepalive``: pooled connections, no retry at all (what a naive script sees).

Each Caddy config change (every switch) is a graceful reload that closes idle client connections;
a request already on its way on one of them races that close. Only the last client sees that.
A reload also swaps Caddy's SO_REUSEPORT listener: with net.ipv4.tcp_migrate_req=0 (the kernel
default) a connection queued on the old listener is reset, which any client can see (rarely).

Prints figures; never passes or fails on time. Needs Docker, the offline test image and Caddy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import HEADER, Load, report, report_load, within
from deploykit.ingress import Route
from deploykit_caddy import CaddyIngress, CaddySupervisor, SupervisorSettings, tcp_migrate_req
from tests.caddy.conftest import loopback_settings

IMAGE = os.environ.get("DEPLOYKIT_TEST_IMAGE", "deploykit-test/busybox:latest")
HOST = "web.localhost"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def docker(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "docker", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {err.decode().strip()}")
    return out.decode().strip()


@dataclass
class Containers:
    ids: list[str] = field(default_factory=list)

    boot_s: float = 0.0

    async def start(self, body: str) -> tuple[str, str]:
        """Run one replica, which takes ``boot_s`` to start listening, and return
        (container id, ip:port) once it answers."""
        script = f"sleep {self.boot_s:g}; echo {body} > /www/index.html && exec httpd -f -p 8080 -h /www"
        name = f"dk-bench-{body}-{uuid.uuid4().hex[:6]}"
        cid = await docker(
            "run", "-d", "--init", "--label", "deploykit-test=1", "--name", name, IMAGE, "sh", "-c", script
        )
        self.ids.append(cid)
        ip = await docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid)
        address = f"{ip}:8080"
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                try:
                    if (await client.get(f"http://{address}/")).text.strip() == body:
                        return cid, address
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} never answered")
                await asyncio.sleep(0.02)

    async def stop(self, cid: str, grace_s: int = 5) -> None:
        await docker("stop", "-t", str(grace_s), cid)
        await docker("rm", "-f", cid)
        self.ids.remove(cid)

    async def remove_all(self) -> None:
        if self.ids:
            await docker("rm", "-f", *self.ids)
            self.ids.clear()


class DaemonAPI:
    """Just enough of the daemon's API to deploy, redeploy and watch two services."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=f"{base}/api", timeout=30.0)
        self.project_id = ""

    async def setup(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (await self.http.get("/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("deploykitd did not answer")
            await asyncio.sleep(0.05)
        body = {"email": "bench@example.com", "name": "Bench", "password": "correct horse battery"}
        tokens = (await self.http.post("/auth/register", json=body)).json()["tokens"]
        self.http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        self.project_id = (await self.http.post("/projects", json={"name": "zd"})).json()["id"]

    async def create(self, services: list[dict[str, object]]) -> dict[str, str]:
        staged = {}
        for body in services:
            r = await self.http.post(f"/projects/{self.project_id}/services", json=body)
            staged[str(body["name"])] = r.json()["target_temp_id"]
        ids = (await self.http.post(f"/projects/{self.project_id}/deploy")).json()["temp_id_to_service_id"]
        return {name: ids[temp] for name, temp in staged.items()}

    def path(self, service_id: str) -> str:
        return f"/projects/{self.project_id}/services/{service_id}"

    async def host(self, service_id: str) -> str:
        return str((await self.http.get(self.path(service_id))).json()["domains"][0])

    async def running(self, service_id: str) -> list[str]:
        containers = (await self.http.get(f"{self.path(service_id)}/containers")).json()["data"]
        return [c["id"] for c in containers if c["state"] == "running"]

    async def redeploy(self, service_id: str, timeout_s: float = 120) -> None:
        """Redeploy and return once the new deployment is healthy and the old replica is gone."""
        before = set(await self.running(service_id))
        dep = (await self.http.post(f"{self.path(service_id)}/redeploy")).json()
        deadline = time.monotonic() + timeout_s
        while True:
            status = (await self.http.get(f"{self.path(service_id)}/deployments/{dep['id']}")).json()["status"]
            if status in ("failed", "cancelled"):
                raise RuntimeError(f"deployment {dep['id']} {status}")
            if status == "healthy" and not before & set(await self.running(service_id)):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"deployment {dep['id']} still {status} after {timeout_s}s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.project_id:
            await self.http.delete(f"/projects/{self.project_id}")
        await self.http.aclose()


async def through_daemon(args: argparse.Namespace, caddy_bin: str) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="dkz-"))  # short: Caddy's admin socket lives in it
    api_port, http_port, https_port = free_port(), free_port(), free_port()
    instance = f"bench-zd-{uuid.uuid4().hex[:8]}"  # this daemon touches, and we remove, only its own objects
    command = [
        sys.executable, "-m", "deploykitd", "serve", "--addr", f"127.0.0.1:{api_port}",
        "--data-dir", str(data_dir / "data"), "--caddy-bin", caddy_bin,
        "--http-port", str(http_port), "--https-port", str(https_port), "--no-https-redirect",
        "--instance-id", instance, "--log-level", "warning", "--stop-caddy",
    ]  # fmt: skip
    script = f"sleep {args.boot:g}; echo $HOSTNAME > /www/index.html; trap 'kill $!; exit 0' TERM; "
    script += "httpd -f -p 8080 -h /www & wait"
    service = {
        "source": {"type": "image", "image": IMAGE},
        "port": 8080,
        "command": ["sh", "-c", script],
        # A replica that boots slowly is not failing: its checks count only after the start period.
        "health_check": {
            "type": "http",
            "path": "/",
            "interval_s": 0.5,
            "timeout_s": 0.5,
            "start_period_s": args.boot + 10,
        },
    }
    url = f"http://127.0.0.1:{http_port}/"
    daemon = await asyncio.create_subprocess_exec(
        *command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    daemon_log: list[str] = []

    async def read_log() -> None:
        assert daemon.stdout is not None
        async for line in daemon.stdout:
            daemon_log.append(line.decode(errors="replace").rstrip())

    log_reader = asyncio.create_task(read_log())
    api = DaemonAPI(f"http://127.0.0.1:{api_port}")
    switch_windows: list[tuple[float, float]] = []
    naive_windows: list[tuple[float, float]] = []
    rollout_s: list[float] = []
    naive_s: list[float] = []
    try:
        await api.setup()
        ids = await api.create(
            [{**service, "name": "web"}, {**service, "name": "naive", "volumes": [{"name": "d", "mount_path": "/d"}]}]
        )
        hosts = {name: await api.host(sid) for name, sid in ids.items()}
        for sid in ids.values():
            deadline = time.monotonic() + 120
            while not await api.running(sid) or (await api.http.get(api.path(sid))).json()["status"] != "running":
                if time.monotonic() > deadline:
                    svc = (await api.http.get(api.path(sid))).json()
                    raise RuntimeError(f"{svc['name']} did not start: {svc['status']}")
                await asyncio.sleep(0.1)

        def clients(host: str) -> list[Load]:
            return [
                Load("fresh", url, keepalive=False, retry=False, rate=args.rate, host=host),
                Load("keepalive+retry", url, keepalive=True, retry=True, rate=args.rate, host=host),
                Load("keepalive", url, keepalive=True, retry=False, rate=args.rate, host=host),
            ]

        loads = clients(hosts["web"])
        stop = asyncio.Event()
        runners = [asyncio.create_task(load.run(stop)) for load in loads]
        steady_start = time.monotonic()
        await asyncio.sleep(args.steady)
        steady = [(steady_start + 0.5, time.monotonic())]
        for _ in range(args.rollouts):
            started = time.monotonic()
            await api.redeploy(ids["web"])
            rollout_s.append(time.monotonic() - started)
            switch_windows.append((started, time.monotonic() + 0.5))
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*runners)

        naive_loads = clients(hosts["naive"])
        stop = asyncio.Event()
        runners = [asyncio.create_task(load.run(stop)) for load in naive_loads]
        naive_start = time.monotonic()
        await asyncio.sleep(args.steady)
        naive_steady = [(naive_start + 0.5, time.monotonic())]
        for _ in range(args.naive):
            started = time.monotonic()
            await api.redeploy(ids["naive"])
            naive_s.append(time.monotonic() - started)
            naive_windows.append((started - 0.5, time.monotonic() + 0.5))
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*runners)
    finally:
        try:
            await api.close()
        finally:
            daemon.terminate()
            await asyncio.wait_for(daemon.wait(), 30)
            await log_reader
            if daemon_log and sys.exc_info()[0] is not None:
                print("deploykitd said:\n  " + "\n  ".join(daemon_log[-30:]), file=sys.stderr)
            shutil.rmtree(data_dir, ignore_errors=True)
            for kind, remove in (("container", ("rm", "-f")), ("network", ("rm",)), ("volume", ("rm", "-f"))):
                listed = await docker(
                    kind,
                    "ls",
                    "-q",
                    *(["-a"] if kind == "container" else []),
                    "--filter",
                    f"label=deploykit.instance={instance}",
                )
                if listed.split():
                    await docker(kind, *remove, *listed.split())

    print(f"zero_downtime (through deploykitd): {args.rate:g} req/s per client, 3 clients, caddy {caddy_bin}")
    load1, load5, _ = os.getloadavg()
    print(
        f"  host: {os.cpu_count()} CPUs, load average {load1:.1f} / {load5:.1f} (1 / 5 min) at the end, "
        f"net.ipv4.tcp_migrate_req={ {True: 1, False: 0, None: 'n/a'}[tcp_migrate_req()] }"
    )
    print(
        f"  rollouts: {args.rollouts} start-first redeploys (drain 10 s), each took p50 "
        f"{statistics.median(rollout_s):.1f} s from request to old replica gone; replicas boot in {args.boot:g}s"
    )
    print(
        f"  naive:    {args.naive} stop-then-start redeploys (a service with a volume), p50 {statistics.median(naive_s):.1f} s"
    )
    report(loads, [("steady", steady), ("during switches", switch_windows)])
    report(naive_loads, [("steady (naive service)", naive_steady), ("during naive rollouts", naive_windows)])
    return 0


async def main(args: argparse.Namespace) -> int:
    problems = []
    if shutil.which("docker") is None:
        problems.append("no docker CLI")
    caddy_bin = args.caddy_bin or shutil.which("caddy")
    if caddy_bin is None:
        problems.append("no caddy binary")
    if problems:
        print(f"zero_downtime: skipped ({', '.join(problems)})")
        return 1 if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1" else 0
    assert caddy_bin is not None
    if args.mode == "daemon":
        return await through_daemon(args, caddy_bin)

    data_dir = Path(tempfile.mkdtemp(prefix="dkb-"))
    settings = loopback_settings(data_dir)
    sup_settings = SupervisorSettings(data_dir=str(data_dir), caddy_bin=caddy_bin)
    ingress = CaddyIngress(sup_settings.admin_url, settings=settings)
    await ingress.open()
    supervisor = CaddySupervisor(settings=sup_settings, on_start=lambda: ingress.sync_routes(ingress.routes()))
    containers = Containers(boot_s=args.boot)
    url = f"http://127.0.0.1:{settings.http_port}/"
    try:
        await supervisor.open()
        cid, address = await containers.start("v0")
        await ingress.set_route(Route("bench", [HOST], [address]))

        loads = [
            Load("fresh", url, keepalive=False, retry=False, rate=args.rate),
            Load("keepalive+retry", url, keepalive=True, retry=True, rate=args.rate),
            Load("keepalive", url, keepalive=True, retry=False, rate=args.rate),
        ]
        stop = asyncio.Event()
        runners = [asyncio.create_task(load.run(stop)) for load in loads]

        steady_start = time.monotonic()
        await asyncio.sleep(args.steady)
        steady = [(steady_start + 0.5, time.monotonic())]

        events: list[tuple[float, str]] = []
        switch_windows: list[tuple[float, float]] = []
        switch_s: list[float] = []
        for i in range(1, args.rollouts + 1):
            new_cid, new_address = await containers.start(f"v{i}")
            started = time.monotonic()
            events.append((started, f"switch {i}"))
            await ingress.set_route(Route("bench", [HOST], [new_address]))
            switch_s.append(time.monotonic() - started)
            await asyncio.sleep(args.drain)
            events.append((time.monotonic(), f"stop old {i - 1}"))
            await containers.stop(cid)
            events.append((time.monotonic(), f"stopped old {i - 1}"))
            switch_windows.append((started, time.monotonic() + 0.5))
            cid = new_cid
            await asyncio.sleep(0.5)
        start_first_end = time.monotonic()
        # A request sent just before a naive stop is that stop's victim: keep the phases apart.
        await asyncio.sleep(1.0)

        naive_windows: list[tuple[float, float]] = []
        naive_gap_s: list[float] = []
        for i in range(1, args.naive + 1):
            started = time.monotonic()
            events.append((started, f"naive {i}: stop old"))
            await containers.stop(cid)
            cid, address = await containers.start(f"n{i}")
            await ingress.set_route(Route("bench", [HOST], [address]))
            events.append((time.monotonic(), f"naive {i}: switched to the new one"))
            naive_gap_s.append(time.monotonic() - started)
            naive_windows.append((started - 0.5, time.monotonic() + 0.5))
            await asyncio.sleep(1.0)

        stop.set()
        await asyncio.gather(*runners)
    finally:
        await containers.remove_all()
        await supervisor.close()
        await ingress.close()
        shutil.rmtree(data_dir, ignore_errors=True)

    if args.timeline:
        failures = [
            (s.sent_at, f"{load.name}: {s.outcome} after {s.latency_s:.2f}s")
            for load in loads
            for s in load.samples
            if not s.ok or s.latency_s > args.slow
        ]
        for at, what in sorted(failures + events):
            print(f"  {at - steady_start:8.3f}  {what}")
    print(f"zero_downtime: {args.rate:g} req/s per client, 3 clients, caddy {caddy_bin}")
    load1, load5, _ = os.getloadavg()
    print(
        f"  host: {os.cpu_count()} CPUs, load average {load1:.1f} / {load5:.1f} (1 / 5 min) at the end, "
        f"net.ipv4.tcp_migrate_req={ {True: 1, False: 0, None: 'n/a'}[tcp_migrate_req()] }"
    )
    print(
        f"  rollouts: {args.rollouts} start-first (drain {args.drain:g}s), "
        f"set_route took p50 {statistics.median(switch_s) * 1000:.1f} ms, max {max(switch_s) * 1000:.1f} ms, "
        f"replicas boot in {args.boot:g}s"
    )
    if naive_gap_s:
        print(f"  naive:    {args.naive} stop-then-start, downtime gap p50 {statistics.median(naive_gap_s):.2f} s")
    print(HEADER)
    for load in loads:
        phases = [
            ("steady", [s for s in load.samples if within(s, steady)]),
            ("during switches", [s for s in load.samples if within(s, switch_windows)]),
            ("all start-first", [s for s in load.samples if s.sent_at < start_first_end]),
            ("during naive rollouts", [s for s in load.samples if within(s, naive_windows)]),
        ]
        report_load(load, phases)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--mode", choices=["daemon", "proxy"], default="daemon", help="through deploykitd, or CaddyIngress"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second, per client")
    parser.add_argument("--rollouts", type=int, default=10)
    parser.add_argument("--naive", type=int, default=5, help="stop-then-start redeploys for contrast")
    parser.add_argument("--drain", type=float, default=2.0, help="seconds old replicas keep serving")
    parser.add_argument("--boot", type=float, default=3.0, help="seconds a new replica takes to listen")
    parser.add_argument(
        "--steady",
        type=float,
        default=20.0,
        # 5 s gave 225 samples per client, whose p99 is about the third-slowest request: too thin a
        # baseline for a p99 ratio. 20 s gives about 1,000.
        help="seconds of load before the first rollout (the steady baseline)",
    )
    parser.add_argument("--caddy-bin", default=None)
    parser.add_argument("--timeline", action="store_true", help="print failures and slow requests among events")
    parser.add_argument("--slow", type=float, default=1.0, help="seconds above which --timeline prints a request")
    sys.exit(asyncio.run(main(parser.parse_args())))
