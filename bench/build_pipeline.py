"""Build pipeline benchmark: a signed push webhook -> healthy deployment through the real daemon, beside
the same steps by hand (`git clone`, `docker build`, `docker run`, first 200). Prints figures; never
passes or fails on time (the issue's goal is a ratio <= 1.1x).

    .venv/bin/python bench/build_pipeline.py [--runs 5] [--image deploykit-test/busybox:latest]

The daemon path is what a user gets: ``deploykitd`` (its own data directory and instance id, the
local engine, no ingress) with a git service on a ``file://`` repository and a GitHub webhook; each run commits a new
index.html, POSTs the push event signed with the webhook's secret, and waits for the deployment it
created to be ``healthy`` (an HTTP health check on ``/`` every 0.2 s) as the UI learns it: from the
project's canvas WebSocket (``deployment:starting`` ends clone+build, ``deployment:healthy`` the
run), timed when each message arrives. (Polling the API every 10 ms instead adds up to a poll's
interval to each figure and loads the daemon while it builds; the hand path has neither.)

The hand path clones the same commit shallowly, builds it with ``docker build``, runs it with a
published port and polls for the first 200 with the new content every 10 ms.

Every run commits new content first, so the COPY step is never cached; the FROM layer is. Runs of the
two paths alternate (and which goes first alternates) so that drift in the engine hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.support import remove_engine_objects  # noqa: E402
from tests.wait import wait_for  # noqa: E402

PASSWORD = "benchmark password"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


async def sh(*args: str, cwd: Path | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, env=GIT_ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {err.decode().strip()}")
    return out.decode()


async def first_200(port: int, expected: str, deadline_s: float = 30.0) -> None:
    """Poll http://127.0.0.1:port/ every 10 ms until it answers 200 with ``expected``."""

    async def answers() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        await writer.drain()
        response = await reader.read()
        writer.close()
        status = response.split(b"\r\n", 1)[0]
        return status.startswith(b"HTTP/1.") and b" 200 " in status and expected.encode() in response

    await wait_for(answers, within=deadline_s, interval=0.01, message=f"a 200 on port {port}", retry_on=(OSError,))


async def run_and_wait(tag: str, expected: str, containers: list[str]) -> None:
    cid = (await sh("docker", "run", "-d", "-p", "127.0.0.1::8080", tag)).strip()
    containers.append(cid)
    port = int((await sh("docker", "port", cid, "8080/tcp")).split()[0].rsplit(":", 1)[1])
    await first_200(port, expected)


async def by_hand(work: Path, repo: Path, content: str, containers: list[str]) -> tuple[float, float]:
    tag = f"deploykit/bench-pipeline:{uuid.uuid4().hex[:12]}"
    checkout = work / uuid.uuid4().hex
    started = time.perf_counter()
    await sh("git", "clone", "-q", "--depth", "1", "--branch", "main", f"file://{repo}", str(checkout))
    await sh("docker", "build", "-q", "-t", tag, str(checkout))
    built = time.perf_counter()
    await run_and_wait(tag, content, containers)
    total = time.perf_counter() - started
    shutil.rmtree(checkout)
    return built - started, total


def cleanup(containers: list[str]) -> None:
    if containers:
        subprocess.run(["docker", "rm", "-f", *containers], capture_output=True)
    tags = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "deploykit/bench-pipeline"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DaemonPath:
    """The real deploykitd with a git service and its GitHub webhook."""

    def __init__(self, work: Path, repo: Path) -> None:
        self.work = work
        self.repo = repo
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: httpx.AsyncClient | None = None
        self.svc = ""
        self.hook: dict[str, Any] = {}
        self.project_id = ""
        self.instance = f"bench-build-{uuid.uuid4().hex[:8]}"
        self.seen: dict[tuple[str, str], float] = {}
        """(deployment id, canvas message type) -> when it arrived (perf_counter)."""
        self.arrived = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    def _spawn(self) -> None:
        data = self.work / "data"
        data.mkdir()
        cmd = [sys.executable, "-m", "deploykitd", "serve", "-addr", f"127.0.0.1:{self.port}"]
        cmd += [
            "-data-dir",
            str(data),
            "--no-ingress",
            "--log-level",
            "warning",
            "--allow-local-repos",
            "--api-rate-limit",
            "0",
        ]
        # Its own instance id: other daemons on this engine leave its containers alone (and it theirs).
        cmd += ["--instance-id", self.instance]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(data / "daemon.log", "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    async def open(self) -> None:
        await asyncio.to_thread(self._spawn)
        base = f"http://127.0.0.1:{self.port}/api"
        self.client = httpx.AsyncClient(base_url=base, timeout=30)
        await wait_for(self._answers, within=30, interval=0.01, message="the daemon to answer")
        r = await self.client.post(
            "/auth/register", json={"email": "bench@example.com", "name": "Bench", "password": PASSWORD}
        )
        r.raise_for_status()
        token = r.json()["tokens"]["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"
        r = await self.client.post("/projects", json={"name": "Bench Build"})
        r.raise_for_status()
        self.project_id = r.json()["id"]
        ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/api/projects/{self.project_id}/canvas/ws")
        await ws.send(json.dumps({"type": "auth", "payload": {"token": token}}))
        while json.loads(await ws.recv())["type"] != "pending-changes:state":
            pass
        self._listener = asyncio.create_task(self._listen(ws))
        service = {
            "name": "site",
            "source": {"type": "git", "repo_url": f"file://{self.repo}", "branch": "main"},
            "port": 8080,
            "health_check": {"type": "http", "path": "/", "interval_s": 0.2, "timeout_s": 0.2},
        }
        staged = (await self.client.post(f"/projects/{self.project_id}/services", json=service)).json()
        applied = (await self.client.post(f"/projects/{self.project_id}/deploy")).json()
        sid = applied["temp_id_to_service_id"][staged["target_temp_id"]]
        self.svc = f"/projects/{self.project_id}/services/{sid}"
        first = (await self.client.get(f"{self.svc}/deployments")).json()["data"][0]["id"]
        await self.settle(first)  # untimed: the service exists and serves before the first push
        r = await self.client.post(f"{self.svc}/webhook", json={"provider": "github"})
        r.raise_for_status()
        self.hook = r.json()

    async def _listen(self, ws: Any) -> None:
        async with ws:
            async for raw in ws:
                message = json.loads(raw)
                if str(message.get("type", "")).startswith("deployment:"):
                    key = (str(message["payload"].get("deployment_id")), message["type"])
                    self.seen.setdefault(key, time.perf_counter())
                    self.arrived.set()

    async def heard(self, deployment_id: str, message_type: str, deadline_s: float = 300) -> float:
        """When the canvas WebSocket said ``message_type`` of the deployment (waits for it)."""
        async with asyncio.timeout(deadline_s):
            while (deployment_id, message_type) not in self.seen:
                if (deployment_id, "deployment:failed") in self.seen:
                    raise RuntimeError(f"deployment {deployment_id[:8]} failed")
                self.arrived.clear()
                await self.arrived.wait()
        return self.seen[(deployment_id, message_type)]

    async def _answers(self) -> bool:
        assert self.proc is not None
        assert self.client is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"deploykitd exited with {self.proc.returncode}")
        try:
            return (await self.client.get("/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def settle(self, deployment_id: str, started: float | None = None) -> tuple[float, float]:
        """Poll the deployment until healthy; seconds from ``started`` to the end of its build and
        to healthy."""
        assert self.client is not None
        client = self.client
        built: float | None = None

        async def healthy() -> float | None:
            nonlocal built
            dep = (await client.get(f"{self.svc}/deployments/{deployment_id}")).json()
            now = time.perf_counter()
            if built is None and dep["status"] not in ("pending", "building"):
                built = now
            if dep["status"] == "failed":
                raise RuntimeError(f"deployment failed: {dep['failure_reason']}")
            return now if dep["status"] == "healthy" else None

        done = await wait_for(
            healthy, within=300, interval=0.01, message=f"deployment {deployment_id[:8]} to be healthy"
        )
        origin = started if started is not None else done
        assert built is not None
        return built - origin, done - origin

    async def one_container(self) -> bool:
        assert self.client is not None
        return len((await self.client.get(f"{self.svc}/containers")).json()["data"]) == 1

    async def push(self, sha: str, message: str) -> tuple[float, float]:
        assert self.client is not None
        # Untimed, like the hand path's cleanup: the previous rollout has stopped its old container.
        await wait_for(self.one_container, within=60, interval=0.01, message="the superseded container to be removed")
        body = json.dumps(
            {"ref": "refs/heads/main", "after": sha, "head_commit": {"id": sha, "message": message}}
        ).encode()
        signature = hmac.new(self.hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={signature}",
        }
        started = time.perf_counter()
        r = await self.client.post(self.hook["url"], content=body, headers=headers)
        r.raise_for_status()
        delivery = r.json()
        if delivery["status"] != "success":
            raise RuntimeError(f"the push was not deployed: {delivery['reason']}")
        deployment_id = delivery["deployment_id"]
        built = await self.heard(deployment_id, "deployment:starting")
        healthy = await self.heard(deployment_id, "deployment:healthy")
        # Untimed: what the API says agrees with what the socket said.
        status = (await self.client.get(f"{self.svc}/deployments/{deployment_id}")).json()["status"]
        if status != "healthy":
            raise RuntimeError(f"the canvas said healthy, the API says {status}")
        return built - started, healthy - started

    async def images_kept(self) -> int:
        """How many images of the service the engine still holds (pruning keeps 5)."""
        assert self.client is not None
        image = (await self.client.get(f"{self.svc}/deployments")).json()["data"][0]["image"]
        out = await sh("docker", "images", "-q", "--filter", f"reference={image.rpartition(':')[0]}")
        return len(out.split())

    async def serves(self, expected: str) -> bool:
        """Whether the service's running container answers with ``expected`` (untimed check)."""
        assert self.client is not None
        records = (await self.client.get(f"{self.svc}/containers")).json()["data"]
        ips = [r.get("ip_address") for r in records if r.get("state") == "running" and r.get("ip_address")]
        async with httpx.AsyncClient(timeout=5) as c:
            for ip in ips:
                try:
                    if expected in (await c.get(f"http://{ip}:8080/")).text:
                        return True
                except httpx.HTTPError:
                    continue
        return False

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self.client is not None:
            if self.project_id:
                try:
                    await self.client.delete(f"/projects/{self.project_id}")
                except httpx.HTTPError:
                    pass
            await self.client.aclose()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # The project's teardown may not have finished before the daemon stopped: whatever it left
        # (its network above all) goes now.
        await asyncio.to_thread(remove_engine_objects, self.instance)


async def commit(repo: Path, content: str, message: str) -> str:
    (repo / "index.html").write_text(content)
    await sh("git", "add", "-A", cwd=repo)
    await sh("git", "commit", "-q", "-m", message, cwd=repo)
    return (await sh("git", "rev-parse", "HEAD", cwd=repo)).strip()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default=os.environ.get("DEPLOYKIT_TEST_IMAGE", "deploykit-test/busybox:latest"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dk-bench-build-") as tmp:
        work = Path(tmp)
        repo = work / "repo"
        await sh("git", "init", "-q", "-b", "main", str(repo))
        (repo / "Dockerfile").write_text(
            f"FROM {args.image}\nCOPY index.html /www/index.html\nEXPOSE 8080\n"
            'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
        )
        await commit(repo, "first\n", "first")
        containers: list[str] = []
        results: dict[str, list[tuple[float, float]]] = {"daemon": [], "by hand": []}
        daemon = DaemonPath(work, repo)
        try:
            await daemon.open()
            for i in range(args.runs):
                order = ("by hand", "daemon") if i % 2 == 0 else ("daemon", "by hand")
                for path in order:
                    content = f"run {i} {path} {uuid.uuid4().hex}\n"
                    sha = await commit(repo, content, f"run {i} {path}")
                    if path == "daemon":
                        results[path].append(await daemon.push(sha, f"run {i}"))
                        if not await daemon.serves(content.strip()):
                            raise RuntimeError("the healthy deployment does not serve the pushed content")
                    else:
                        results[path].append(await by_hand(work, repo, content.strip(), containers))
                        await asyncio.to_thread(cleanup, containers)  # untimed: every run starts alike
                        containers.clear()
            kept = await daemon.images_kept()
        finally:
            await asyncio.to_thread(cleanup, containers)
            await daemon.close()

    builder_kind = "BuildKit" if os.environ.get("DOCKER_BUILDKIT") == "1" else "classic builder (CLI default here)"
    print(f"build pipeline, {args.runs} runs each; by hand: docker build with the {builder_kind}")
    print("  daemon:  push webhook -> deployment:healthy on the canvas WebSocket (clone+build: -> deployment:starting)")
    print("  by hand: git clone + docker build + docker run -> first 200 with the new content")
    for path, rows in results.items():
        builds = ", ".join(f"{b:.2f}" for b, _ in rows)
        totals = ", ".join(f"{t:.2f}" for _, t in rows)
        print(f"  {path:8}  clone+build s: [{builds}]  total s: [{totals}]")
    med = {p: (statistics.median(b for b, _ in r), statistics.median(t for _, t in r)) for p, r in results.items()}
    for path, (build, total) in med.items():
        print(f"  {path:8}  median clone+build {build:.3f} s, median total {total:.3f} s")
    print(f"  images of the service left after {args.runs + 1} builds: {kept} (pruned beyond 5)")
    print(
        f"  ratio daemon / by hand: clone+build {med['daemon'][0] / med['by hand'][0]:.2f}x, "
        f"total {med['daemon'][1] / med['by hand'][1]:.2f}x (goal <= 1.1x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
