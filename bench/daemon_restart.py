"""Sites outlive the daemon: requests through Caddy while ``deploykitd`` stops and starts again.

A real ``deploykitd`` supervising its own Caddy on loopback ports deploys one busybox httpd service.
While ``--rate`` requests/s (a new connection each, and pooled connections) go through Caddy by Host
header, and a probe asks Caddy back to back whether it answers at all, the daemon is stopped with
SIGTERM, left down for ``--down`` seconds and started again, ``--restarts`` times. Caddy keeps
serving while the daemon is gone and the new daemon adopts it (same pid) instead of starting another.

Prints the requests and failed requests per phase, the time Caddy did not answer (expected 0: no
failed request, no unavailability) and whether the Caddy process stayed the same. Never passes or
fails on time. Needs Docker, the offline test image and Caddy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import Load, report
from bench.zero_downtime import IMAGE, DaemonAPI, docker, free_port

HTTPD = "echo ok > /www/index.html; trap 'kill $!; exit 0' TERM; httpd -f -p 8080 -h /www & wait"


class Probe:
    """Asks Caddy every ``period_s`` on a new connection; sums the time it did not answer."""

    def __init__(self, url: str, host: str, period_s: float = 0.01) -> None:
        self.url, self.host, self.period_s = url, host, period_s
        self.checks = 0
        self.misses = 0
        self.unavailable_s = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=1.0, limits=limits) as client:
            down_since: float | None = None
            while not stop.is_set():
                now = time.monotonic()
                try:
                    ok = (await client.get(self.url, headers={"Host": self.host})).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.checks += 1
                if not ok:
                    self.misses += 1
                    down_since = now if down_since is None else down_since
                elif down_since is not None:
                    self.unavailable_s += now - down_since
                    down_since = None
                await asyncio.sleep(self.period_s)
            if down_since is not None:
                self.unavailable_s += time.monotonic() - down_since


class Daemon:
    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command, self.log_path = command, log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)


async def wait_healthy(api: DaemonAPI, timeout_s: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if (await api.http.get("/health")).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.02)
    raise RuntimeError("deploykitd did not answer")


def caddy_pid(caddy_dir: Path) -> int | None:
    try:
        return int((caddy_dir / "caddy.pid").read_text())
    except (OSError, ValueError):
        return None


async def run(args: argparse.Namespace, caddy_bin: str) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="dkr-"))  # short: Caddy's admin socket lives in it
    api_port, http_port, https_port = free_port(), free_port(), free_port()
    instance = f"bench-dr-{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable, "-m", "deploykitd", "serve", "--addr", f"127.0.0.1:{api_port}",
        "--data-dir", str(data_dir / "data"), "--caddy-bin", caddy_bin,
        "--http-port", str(http_port), "--https-port", str(https_port), "--no-https-redirect",
        "--instance-id", instance, "--log-level", "info",
    ]  # fmt: skip
    daemon = Daemon(command, data_dir / "daemon.log")
    api = DaemonAPI(f"http://127.0.0.1:{api_port}")
    url = f"http://127.0.0.1:{http_port}/"
    pids: list[int | None] = []
    down_s: list[float] = []
    start_s: list[float] = []
    windows: list[tuple[float, float]] = []
    try:
        await daemon.start()
        await api.setup()
        service = {"name": "web", "source": {"type": "image", "image": IMAGE}, "port": 8080}
        service |= {
            "command": ["sh", "-c", HTTPD],
            "health_check": {"type": "http", "path": "/", "interval_s": 0.5, "timeout_s": 0.5},
        }
        ids = await api.create([service])
        host = await api.host(ids["web"])
        deadline = time.monotonic() + 120
        while (
            not await api.running(ids["web"])
            or (await api.http.get(api.path(ids["web"]))).json()["status"] != "running"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            await asyncio.sleep(0.1)
        caddy_dir = data_dir / "data" / "caddy"
        pids.append(caddy_pid(caddy_dir))

        loads = [
            Load("fresh", url, keepalive=False, retry=False, rate=args.rate, host=host),
            Load("keepalive+retry", url, keepalive=True, retry=True, rate=args.rate, host=host),
        ]
        probe = Probe(url, host)
        stop = asyncio.Event()
        runners = [asyncio.create_task(load.run(stop)) for load in [*loads, probe]]
        steady_start = time.monotonic()
        await asyncio.sleep(args.steady)
        steady = [(steady_start, time.monotonic())]
        for _ in range(args.restarts):
            began = time.monotonic()
            code = await daemon.stop()
            if code != 0:
                raise RuntimeError(f"deploykitd exited with {code}")
            await asyncio.sleep(args.down)
            down_s.append(time.monotonic() - began)
            await daemon.start()
            start_s.append(await wait_healthy(api))
            pids.append(caddy_pid(caddy_dir))
            await asyncio.sleep(args.steady)  # the new daemon's first resync sets every route again
            windows.append((began, time.monotonic()))
        stop.set()
        await asyncio.gather(*runners)
    finally:
        try:
            await api.close()
        finally:
            await daemon.stop()
            pid = caddy_pid(data_dir / "data" / "caddy")
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)  # the Caddy the daemon left serving, by design
            for kind, remove in (("container", ("rm", "-f")), ("network", ("rm",)), ("volume", ("rm", "-f"))):
                flags = ["-a"] if kind == "container" else []
                listed = await docker(kind, "ls", "-q", *flags, "--filter", f"label=deploykit.instance={instance}")
                if listed.split():
                    await docker(kind, *remove, *listed.split())
            if sys.exc_info()[0] is not None:
                print((data_dir / "daemon.log").read_text(errors="replace")[-4000:], file=sys.stderr)
            shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"daemon_restart: {args.restarts} daemon stop/start cycles under {args.rate:g} req/s per client, caddy {caddy_bin}"
    )
    load1, load5, _ = os.getloadavg()
    print(f"  host: {os.cpu_count()} CPUs, load average {load1:.1f} / {load5:.1f} (1 / 5 min) at the end")
    print(
        f"  daemon down {min(down_s):.1f}-{max(down_s):.1f} s per cycle (SIGTERM to new start), "
        f"new daemon answering after {min(start_s):.2f}-{max(start_s):.2f} s"
    )
    print(
        f"  Caddy pid across the restarts: {' -> '.join(str(p) for p in pids)} ({'adopted' if len(set(pids)) == 1 else 'REPLACED'})"
    )
    failed = sum(1 for load in loads for s in load.samples if not s.ok)
    print(
        f"  Caddy unavailable: {probe.unavailable_s * 1000:.0f} ms in total ({probe.misses} of {probe.checks} probes "
        f"missed); failed requests: {failed} of {sum(len(load.samples) for load in loads)}"
    )
    report(loads, [("steady", steady), ("stop, down, start", windows)])
    return 0


async def main(args: argparse.Namespace) -> int:
    caddy_bin = args.caddy_bin or shutil.which("caddy")
    if shutil.which("docker") is None or caddy_bin is None:
        print("daemon_restart: skipped (needs the docker CLI and a caddy binary)")
        return 1 if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1" else 0
    return await run(args, caddy_bin)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--down", type=float, default=2.0, help="seconds the daemon stays stopped")
    parser.add_argument("--steady", type=float, default=2.0, help="seconds of load before and after each cycle")
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s per client")
    parser.add_argument("--caddy-bin", default=None)
    sys.exit(asyncio.run(main(parser.parse_args())))
