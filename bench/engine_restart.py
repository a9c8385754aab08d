"""Docker engine restarted -> every service answering again, through the real daemon.

The shared engine is never touched: the benchmark runs a second ``dockerd`` of its own, in a network
namespace of its own (its bridge, addresses and iptables rules are its own), with its own socket,
data-root, exec-root and pidfile under a temporary directory. The offline test image is built in
it (``scripts/build-test-image.sh``). Then the benchmark runs itself again inside that namespace,
where the containers' addresses are reachable, and starts ``deploykitd`` there with
``--docker-host`` pointed at that engine (its own data directory, no ingress).

``--services`` busybox httpd services (one replica, an HTTP health check) are deployed and
answer. Then ``--restarts`` times: the engine is stopped (SIGTERM: it stops its containers) and
started again; the benchmark polls (every 10 ms) until the engine answers and then until every
service has a running container that answers 200. Prints, per restart, the seconds from the
engine's start to its first answer and from that answer to every service answering (the goal:
<= 1 s). An engine restarts the containers it stopped (their restart policy) before it answers,
which is why DeployKit leaves a stopped replica in place until its replacement has started.
Never passes or fails on time. Needs root, ``dockerd``, ``nsenter`` and ``ip``.

    .venv/bin/python bench/engine_restart.py [--services 5] [--restarts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import HTTPD_SCRIPT, PASSWORD, TEST_IMAGE, free_port, http_ok  # noqa: E402
from deploykit.runtime import LABEL_INSTANCE  # noqa: E402
from deploykit_docker import DockerRuntime  # noqa: E402
from tests.wait import wait_for, wait_for_sync  # noqa: E402

POLL_S = 0.01


class Engine:
    """A dockerd of the benchmark's own, started from inside its network namespace."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.base / 'docker.sock'}"

    def start(self) -> float:
        """Start dockerd; the moment it was started (``time.perf_counter``)."""
        for d in ("data", "exec"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        cmd = ["dockerd", "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "exec")]
        cmd += ["--pidfile", str(self.base / "docker.pid"), "-H", self.host, "--cgroup-parent", "dk-engine-bench"]
        log = (self.base / "dockerd.log").open("ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return started

    def answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the benchmark's dockerd exited ({self.proc.returncode}); see {self.base}/dockerd.log")
        try:
            transport = httpx.HTTPTransport(uds=str(self.base / "docker.sock"))
            with httpx.Client(transport=transport, timeout=1) as client:
                return client.get("http://engine/_ping").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """SIGTERM (it stops its containers first) and wait until it has exited."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Daemon:
    """deploykitd on the benchmark's engine, with services to keep answering."""

    def __init__(self, work: Path, engine: Engine) -> None:
        self.work = work
        self.engine = engine
        self.port = free_port()
        self.instance = f"bench-engine-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}/api", timeout=30)
        self.service_ids: list[str] = []

    def _spawn(self) -> None:
        data = self.work / "daemon"
        data.mkdir()
        cmd = [sys.executable, "-m", "deploykitd", "serve", "-addr", f"127.0.0.1:{self.port}", "-data-dir", str(data)]
        cmd += ["--docker-host", self.engine.host, "--no-ingress", "--log-level", "warning", "--api-rate-limit", "0"]
        cmd += ["--instance-id", self.instance]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(data / "daemon.log", "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    async def open(self, services: int) -> None:
        await asyncio.to_thread(self._spawn)
        await wait_for(self._answers, within=30, interval=0.05, message="the daemon to answer")
        r = await self.client.post(
            "/auth/register", json={"email": "bench@example.com", "name": "Bench", "password": PASSWORD}
        )
        r.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {r.json()['tokens']['access_token']}"
        project = (await self.client.post("/projects", json={"name": "Engine Restart"})).json()["id"]
        temp_ids = []
        for i in range(services):
            body = {
                "name": f"web{i}",
                "source": {"type": "image", "image": TEST_IMAGE},
                "port": 8080,
                "command": ["sh", "-c", HTTPD_SCRIPT],
                "health_check": {"type": "http", "path": "/", "interval_s": 1.0, "timeout_s": 1.0},
            }
            r = await self.client.post(f"/projects/{project}/services", json=body)
            r.raise_for_status()
            temp_ids.append(r.json()["target_temp_id"])
        applied = (await self.client.post(f"/projects/{project}/deploy")).json()
        self.service_ids = [applied["temp_id_to_service_id"][t] for t in temp_ids]

    async def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"deploykitd exited with {self.proc.returncode}; see {self.work}/daemon/daemon.log")
        try:
            return (await self.client.get("/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def close(self) -> None:
        await self.client.aclose()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def every_service_answers(runtime: DockerRuntime, instance: str, service_ids: list[str]) -> bool:
    waiting = set(service_ids)
    try:
        containers = await runtime.list_containers()
    except Exception:
        return False
    for c in containers:
        sid = c.service_id
        if c.labels.get(LABEL_INSTANCE) != instance or sid not in waiting or c.state != "running":
            continue
        if c.ip_address and await http_ok(c.ip_address, 8080, 0.1):
            waiting.discard(sid)
    return not waiting


def start_engine(engine: Engine) -> None:
    engine.start()
    wait_for_sync(engine.answers, within=60, interval=0.1, message="the benchmark's dockerd to answer")
    env = {**os.environ, "DOCKER_HOST": engine.host}
    subprocess.run([str(ROOT / "scripts" / "build-test-image.sh")], env=env, check=True, timeout=300)


async def inner(args: argparse.Namespace) -> None:
    """Inside the namespace: the engine, the daemon, the restarts."""
    engine = Engine(Path(args.base))
    rows: list[tuple[float, float]] = []
    daemon: Daemon | None = None
    runtime = DockerRuntime(engine.host)
    try:
        await asyncio.to_thread(start_engine, engine)
        await runtime.open()
        daemon = Daemon(engine.base, engine)
        await daemon.open(args.services)
        instance, service_ids = daemon.instance, daemon.service_ids

        async def all_answer() -> bool:
            return await every_service_answers(runtime, instance, service_ids)

        await wait_for(all_answer, within=120, interval=POLL_S, message="every service to answer")
        for _ in range(args.restarts):
            await asyncio.to_thread(engine.stop)
            started = engine.start()
            await wait_for(lambda: asyncio.to_thread(engine.answers), within=120, interval=POLL_S, message="the engine")
            answered = time.perf_counter()
            await wait_for(all_answer, within=120, interval=POLL_S, message="every service to answer again")
            rows.append((answered - started, time.perf_counter() - answered))
            # Untimed: the daemon has settled (it may still be reconciling) before the next restart.
            await asyncio.sleep(2)
    finally:
        if daemon is not None:
            await daemon.close()
        await runtime.close()
        await asyncio.to_thread(engine.stop)

    print(f"engine restart: {args.services} services, {args.restarts} restarts of a dockerd of the benchmark's own")
    for i, (up, back) in enumerate(rows):
        print(f"  restart {i + 1}: engine answers {up:.3f} s after its start; every service answers {back:.3f} s later")
    print(
        f"  median: every service answering {statistics.median(b for _, b in rows):.3f} s after the engine answers "
        f"(goal <= 1 s), {statistics.median(u + b for u, b in rows):.3f} s after its start"
    )


def outer(args: argparse.Namespace) -> None:
    """Make the namespace, run the benchmark inside it, remove everything afterwards."""
    for tool in ("dockerd", "nsenter", "ip"):
        if shutil.which(tool) is None:
            raise SystemExit(f"engine_restart needs {tool} on PATH")
    if os.geteuid() != 0:
        raise SystemExit("engine_restart needs root (a network namespace, a dockerd)")
    netns = f"dk-engbench-{uuid.uuid4().hex[:6]}"
    base = Path(tempfile.mkdtemp(prefix="dk-engbench-"))
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"], check=True)
        # nsenter rather than ``ip netns exec``, which remounts /sys and hides the cgroup v1
        # hierarchies dockerd needs.
        cmd = ["nsenter", f"--net=/run/netns/{netns}", sys.executable, str(Path(__file__).resolve()), "--inner"]
        cmd += ["--base", str(base), "--services", str(args.services), "--restarts", str(args.restarts)]
        subprocess.run(cmd, check=True)
    finally:
        remove(netns, base)


def remove(netns: str, base: Path) -> None:
    """The engine (should it still run), its mounts, the namespace and the files."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((base / "docker.pid").read_text().strip()), signal.SIGKILL)
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(str(base))]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    subprocess.run(["ip", "netns", "delete", netns], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        asyncio.run(inner(args))
    else:
        outer(args)


if __name__ == "__main__":
    main()
