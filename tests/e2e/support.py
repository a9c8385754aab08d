"""The real ``deploykitd`` as a subprocess on a free port, and small clients for it.

Nothing here sleeps to let things settle: ``tests.wait.wait_for_sync`` polls a condition against a deadline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from deploykit.runtime import built_images
from deploykit_http.shapes.canvas import CanvasServerMessage
from tests.wait import wait_for_sync

T = TypeVar("T")
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instance_id_for(data_dir: Path) -> str:
    return "test-" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]


def instance_args(data_dir: Path, extra_args: list[str]) -> list[str]:
    """``--instance-id`` derived from the data directory, unless the test chose one: test daemons
    sharing the engine (another suite running beside this one) then never take each other's
    containers for orphans, and a daemon restarted on the same data keeps its containers. When a
    test is done with the daemon, ``remove_engine_objects`` removes what it left."""
    if any(a.lstrip("-").startswith("instance-id") for a in extra_args):
        return []
    return ["--instance-id", instance_id_for(data_dir)]


def remove_engine_objects(instance_id: str) -> None:
    """Remove every container, network and volume labelled with ``instance_id``, and the images it
    built: a test daemon stopped with projects still deployed leaves them behind, and an engine runs
    out of network address pools after about thirty leftover networks."""
    label = f"label=deploykit.instance={instance_id}"
    for kind in ("container", "network", "volume"):
        ids = subprocess.run(
            ["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []), "--filter", label],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        if ids:
            remove = ["rm", "-f"] if kind != "network" else ["rm"]
            subprocess.run(["docker", kind, *remove, *ids], capture_output=True, timeout=60)
    # Built images carry no label; their name says which installation built them. Removed by
    # name, not id: a cached build gives another installation's tag the very same image id.
    fmt = "{{.Repository}}:{{.Tag}}"
    args = ["docker", "image", "ls", "--format", fmt, "--filter", f"reference={built_images(instance_id)}"]
    tags = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.split()
    if tags:
        subprocess.run(["docker", "image", "rm", *tags], capture_output=True, timeout=120)


def caddy_pid(caddy_dir: Path) -> int | None:
    """The pid of the Caddy a daemon supervises from ``caddy_dir``, while it runs."""
    try:
        pid = int((caddy_dir / "caddy.pid").read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return pid if stat.rsplit(") ", 1)[1][0] != "Z" else None


def stop_caddy(caddy_dir: Path, timeout_s: float = 10.0) -> None:
    """Stop the Caddy a stopped daemon left serving from ``caddy_dir`` (if any), and wait for it."""
    pid = caddy_pid(caddy_dir)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_for_sync(
            lambda: caddy_pid(caddy_dir) != pid, within=timeout_s, interval=0.02, message=f"Caddy {pid} to stop"
        )
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


UNSETTLED: tuple[type[Exception], ...] = (Exception,)
"""What an e2e wait treats as "not yet": the daemon, Caddy and containers it talks to may refuse,
reset, or answer a 502 page that is no JSON while they come up. The last one is reported at the
deadline."""


@dataclass
class Daemon:
    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    docker: bool = False
    """Use the real Docker engine (else an address where none answers)."""
    ingress: bool = False
    """Let the daemon run Caddy (pass its flags in ``extra_args``); else ``--no-ingress``, so that
    test daemons never start a Caddy on the host's ports 80 and 443."""
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "deploykitd",
            "serve",
            "-addr",
            f"127.0.0.1:{self.port}",
            "-data-dir",
            str(self.data_dir),
            *([] if self.docker else ["--docker-host", "unix:///nonexistent/docker.sock"]),
            *([] if self.ingress else ["--no-ingress"]),
            "--log-level",
            "warning",
            *instance_args(self.data_dir, self.extra_args),
            *self.extra_args,
        ]

    def start(self) -> Daemon:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "daemon.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if not self.docker:
            env.pop("DOCKER_HOST", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for_sync(self._healthy, within=20, message="the daemon to answer /api/health", retry_on=(httpx.HTTPError,))
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"deploykitd exited with {self.proc.returncode}:\n{self.log()}")
        return httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def terminate(self, timeout: float = 15, *, clean_engine: bool = False, keep_caddy: bool = False) -> int:
        """SIGTERM and wait; the exit code. ``clean_engine`` (when the test is done with this
        daemon, not for a restart) also removes what it left on the Docker engine. The Caddy the
        daemon supervised outlives it by design; it is stopped too unless ``keep_caddy``."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not keep_caddy:
            stop_caddy(self.data_dir / "caddy")
        if clean_engine and self.docker:
            remove_engine_objects(self.instance_id)
        return self.proc.returncode

    @property
    def instance_id(self) -> str:
        chosen = [a.split("=", 1)[1] for a in self.extra_args if a.startswith("--instance-id=")]
        for i, a in enumerate(self.extra_args[:-1]):
            if a.lstrip("-") == "instance-id":
                chosen.append(self.extra_args[i + 1])
        return chosen[0] if chosen else instance_id_for(self.data_dir)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.base}/api", headers=headers, timeout=10)


@contextlib.contextmanager
def running(data_dir: Path, *extra: str) -> Iterator[Daemon]:
    daemon = Daemon(data_dir, extra_args=list(extra)).start()
    try:
        yield daemon
    finally:
        daemon.terminate()


@dataclass
class Account:
    """A logged-in user of a daemon."""

    daemon: Daemon
    email: str
    user: dict[str, Any]
    tokens: dict[str, Any]

    @property
    def token(self) -> str:
        return str(self.tokens["access_token"])

    def client(self) -> httpx.Client:
        return self.daemon.client(self.token)


def register_admin(daemon: Daemon, email: str = "admin@example.com") -> Account:
    with daemon.client() as c:
        r = c.post("/auth/register", json={"email": email, "name": "Ada Admin", "password": PASSWORD})
        assert r.status_code == 201, r.text
        body = r.json()
    return Account(daemon, email, body["user"], body["tokens"])


def create_member(admin: Account, email: str, name: str = "Max Member") -> Account:
    with admin.client() as c:
        r = c.post("/users", json={"email": email, "name": name, "password": PASSWORD, "role": "member"})
        assert r.status_code == 201, r.text
        user = r.json()
    return login(admin.daemon, email, user)


def login(daemon: Daemon, email: str, user: dict[str, Any] | None = None, password: str = PASSWORD) -> Account:
    with daemon.client() as c:
        r = c.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        tokens = r.json()
        me = user or c.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    return Account(daemon, email, me, tokens)


def create_project(account: Account, name: str = "Shop") -> dict[str, Any]:
    with account.client() as c:
        r = c.post("/projects", json={"name": name})
        assert r.status_code == 201, r.text
        return dict(r.json())


def dumps(type: str, payload: dict[str, Any]) -> str:
    return json.dumps({"type": type, "payload": payload})


class CanvasClient:
    """One canvas WebSocket: authenticates, records everything it receives, and waits for
    messages by type and predicate against a deadline."""

    def __init__(self, daemon: Daemon, project_id: str, token: str) -> None:
        self.url = f"{daemon.ws_base}/api/projects/{project_id}/canvas/ws"
        self.token = token
        self.received: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []
        self.ws: Any = None

    async def __aenter__(self) -> CanvasClient:
        import websockets

        self.ws = await websockets.connect(self.url)
        await self.send("auth", {"token": self.token})
        await self.expect("pending-changes:state")
        self._unread.clear()  # the initial state stays in ``received``
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, type: str, payload: dict[str, Any]) -> None:
        await self.ws.send(dumps(type, payload))

    async def expect(
        self, type: str, where: Callable[[dict[str, Any]], bool] = lambda p: True, deadline_s: float = 5.0
    ) -> dict[str, Any]:
        """The payload of the first unread ``type`` message matching ``where``."""
        import asyncio

        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while True:
            for i, msg in enumerate(self._unread):
                if msg["type"] == type and where(msg["payload"]):
                    del self._unread[i]
                    return dict(msg["payload"])
            remaining = end - loop.time()
            if remaining <= 0:
                seen = [m["type"] for m in self.received]
                raise AssertionError(f"no {type} message within {deadline_s}s; received {seen}")
            raw = await asyncio.wait_for(self.ws.recv(), remaining)
            msg = json.loads(raw)
            CanvasServerMessage.model_validate(msg)  # every message the server sends fits the published union
            self.received.append(msg)
            self._unread.append(msg)

    async def closed_with(self, deadline_s: float = 5.0) -> int:
        """Wait for the server to close the socket; its close code."""
        code, _ = await close_of(self.ws, deadline_s, self.received)
        return code


async def close_of(ws: Any, deadline_s: float = 5.0, into: list[dict[str, Any]] | None = None) -> tuple[int, str]:
    """Read until the server closes ``ws``; the close code and reason. Fails if it stays open."""
    import asyncio

    import websockets

    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), max(0.0, end - loop.time()))
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is None:
                raise AssertionError("the connection dropped without a close frame") from exc
            return int(exc.rcvd.code), str(exc.rcvd.reason)
        if into is not None:
            into.append(json.loads(raw))


class CanvasTap:
    """A canvas WebSocket read on a thread of its own, for synchronous tests: it records every
    message the project's room sends, so a test sees each status a deployment passes through
    however short it was (polling the REST API can miss a build that takes half a second)."""

    def __init__(self, daemon: Daemon, project_id: str, token: str) -> None:
        self.url = f"{daemon.ws_base}/api/projects/{project_id}/canvas/ws"
        self.token = token
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ws: Any = None
        self._stack = contextlib.ExitStack()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> CanvasTap:
        from websockets.sync.client import connect

        self._ws = self._stack.enter_context(connect(self.url, open_timeout=10))
        self._ws.send(dumps("auth", {"token": self.token}))
        while json.loads(self._ws.recv(timeout=10))["type"] != "pending-changes:state":
            pass  # the initial state: everything after it is news
        self._thread = threading.Thread(target=self._read, name="canvas-tap", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self._ws:
                with self._lock:
                    self.received.append(json.loads(raw))
        except ConnectionClosed:
            return

    def statuses(self, deployment_id: str) -> list[str]:
        """The ``deployment:<status>`` messages heard for one deployment, in order."""
        with self._lock:
            return [
                m["type"].removeprefix("deployment:")
                for m in self.received
                if m["type"].startswith("deployment:") and m["payload"].get("deployment_id") == deployment_id
            ]
