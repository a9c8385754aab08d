"""``CaddySupervisor``: runs DeployKit's own ``caddy run`` child and keeps it running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploykit.clock import Clock, SystemClock, wait_event
from deploykit.errors import UNAVAILABLE, Error
from deploykit_caddy.ingress import UNIX_PREFIX, admin_client
from deploykit_caddy.kernel import tcp_migrate_req

log = logging.getLogger(__name__)

OnStart = Callable[[], Awaitable[None]]

MAX_SOCKET_PATH = 107
"""sockaddr_un.sun_path holds 108 bytes, the terminating NUL included."""


@dataclass(frozen=True)
class SupervisorSettings:
    """A supervised Caddy. Its admin API listens on a Unix socket in ``data_dir`` (only this user
    can reach it) unless ``admin_listen`` names a loopback ``host:port``."""

    data_dir: str
    """Caddy's socket, bootstrap config, certificates and internal CA live here."""
    caddy_bin: str = "caddy"
    admin_listen: str | None = None
    """None: ``unix/<data_dir>/caddy-admin.sock``; else e.g. ``127.0.0.1:2999``."""
    start_timeout_s: float = 10.0
    """How long a fresh Caddy may take before its admin API answers."""
    stop_timeout_s: float = 5.0
    """SIGTERM, then SIGKILL after this long."""
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 10.0
    stable_after_s: float = 30.0
    """A Caddy that ran this long resets the restart backoff."""
    resync_retry_s: float = 1.0
    """Pause before calling ``on_start`` again when it failed."""
    open_sync_timeout_s: float | None = 10.0
    """How long ``open`` waits for the first successful ``on_start``. A Caddy that keeps refusing
    the routes (another server holds the HTTP or HTTPS port) is stopped and ``open`` raises
    ``unavailable``; None waits as long as it takes."""

    @property
    def socket_path(self) -> str:
        return str(Path(self.data_dir) / "caddy-admin.sock")

    @property
    def admin_address(self) -> str:
        """The ``admin.listen`` value in Caddy's config."""
        return self.admin_listen or f"unix/{self.socket_path}"

    @property
    def admin_url(self) -> str:
        """What ``CaddyIngress`` needs to reach this Caddy."""
        if self.admin_listen is None:
            return f"{UNIX_PREFIX}{self.socket_path}"
        return f"http://{self.admin_listen}"


class CaddySupervisor:
    """Starts ``caddy run`` with an admin-only bootstrap config, waits for its admin API, calls
    ``on_start`` (which re-syncs every route from the database), and does it again, with
    exponential backoff, whenever the process exits. ``on_start`` failures are retried while the
    process lives, so a restart is always followed by one successful resync.

    Routes are never persisted by Caddy (``persist: false``, no ``--resume``): the database is the
    only source of truth, and the callback puts them back.
    """

    def __init__(self, *, settings: SupervisorSettings, on_start: OnStart, clock: Clock | None = None) -> None:
        self.settings = settings
        self._on_start = on_start
        self._clock = clock or SystemClock()
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._output_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._output: deque[str] = deque(maxlen=30)
        self.starts = 0
        """How many times Caddy was started (1 after ``open``)."""
        self.resyncs = 0
        """How many times ``on_start`` completed."""

    @property
    def admin_url(self) -> str:
        return self.settings.admin_url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.returncode is None else None

    async def open(self) -> None:
        """Start Caddy and wait until it answers and routes were synced once. Raises
        ``unavailable`` when Caddy cannot be started (bad binary) or does not take the routes
        within ``open_sync_timeout_s`` (port taken)."""
        self._stopping.clear()
        if tcp_migrate_req() is False:
            log.warning(
                "net.ipv4.tcp_migrate_req is 0: a connection arriving during a route change may be reset; "
                "set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1) for zero failed connections"
            )
        await self._stop_orphan()
        await self._start()
        try:
            # The bootstrap config binds only the admin API: a taken port shows at the first load.
            await asyncio.wait_for(self._resync(), self.settings.open_sync_timeout_s)
        except TimeoutError:
            await self._stop_process()
            raise Error(
                UNAVAILABLE,
                f"Caddy did not take the routes within {self.settings.open_sync_timeout_s:g}s "
                f"(is the HTTP or HTTPS port taken?): {self._last_output()}",
            ) from None
        self._task = asyncio.create_task(self._supervise(), name="caddy-supervisor")

    async def close(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_process()
        with contextlib.suppress(FileNotFoundError):
            self._pid_file.unlink()

    async def __aenter__(self) -> CaddySupervisor:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- process -------------------------------------------------------------------------------

    @property
    def _pid_file(self) -> Path:
        return Path(self.settings.data_dir) / "caddy.pid"

    async def _stop_orphan(self) -> None:
        """Stop a Caddy a previous, killed deploykitd left running from this data directory.
        Listeners use SO_REUSEPORT, so it would otherwise keep answering beside ours with
        stale routes."""
        pid = _orphan_pid(self._pid_file, self._pid_file.parent / "caddy-bootstrap.json")
        if pid is None:
            return
        log.warning("Stopping the Caddy (pid %s) a previous deploykitd left running", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not await asyncio.to_thread(_wait_gone, pid, self.settings.stop_timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _bootstrap_config(self) -> Path:
        data = Path(self.settings.data_dir)
        data.mkdir(mode=0o700, parents=True, exist_ok=True)  # the admin socket and private keys live here
        path = data / "caddy-bootstrap.json"
        config = {"admin": {"listen": self.settings.admin_address, "config": {"persist": False}}}
        path.write_text(json.dumps(config))
        return path

    async def _start(self) -> None:
        config = self._bootstrap_config()
        if self.settings.admin_listen is None:
            if len(self.settings.socket_path.encode()) > MAX_SOCKET_PATH:
                raise Error(
                    UNAVAILABLE,
                    f"Caddy's admin socket path {self.settings.socket_path} is too long; "
                    "use a shorter data directory or a loopback admin address.",
                )
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.settings.socket_path)  # a socket left by a killed Caddy blocks the bind
        data = Path(self.settings.data_dir)
        env = {**os.environ, "XDG_DATA_HOME": str(data / "data"), "XDG_CONFIG_HOME": str(data / "config")}
        try:
            process = await asyncio.create_subprocess_exec(
                self.settings.caddy_bin,
                "run",
                "--config",
                str(config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C to the daemon's terminal is the daemon's to handle
            )
        except OSError as exc:
            raise Error(UNAVAILABLE, f"Cannot start Caddy ({self.settings.caddy_bin}).") from exc
        self._process = process
        self.starts += 1
        self._pid_file.write_text(f"{process.pid}\n")
        self._output_task = asyncio.create_task(self._read_output(process), name="caddy-output")
        try:
            await self._wait_until_answering(process)
        except Error:
            await self._stop_process()
            raise
        log.info("Caddy started (pid %s, admin %s)", process.pid, self.admin_url)

    async def _wait_until_answering(self, process: asyncio.subprocess.Process) -> None:
        deadline = self._clock.monotonic() + self.settings.start_timeout_s
        async with admin_client(self.admin_url, 1.0) as client:
            while True:
                if process.returncode is not None:
                    raise Error(UNAVAILABLE, f"Caddy exited at start ({process.returncode}): {self._last_output()}")
                try:
                    response = await client.get("/config/admin")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if self._clock.monotonic() > deadline:
                    raise Error(UNAVAILABLE, f"Caddy's admin API did not answer in {self.settings.start_timeout_s}s.")
                # Caddy binds its admin socket within milliseconds; wake early if it exits instead.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(process.wait()), 0.02)

    async def _read_output(self, process: asyncio.subprocess.Process) -> None:
        # Always drained, or Caddy would block on a full pipe.
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._output.append(line)
            log.debug("caddy: %s", line)

    def _last_output(self) -> str:
        return " | ".join(list(self._output)[-3:])

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.settings.stop_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        task, self._output_task = self._output_task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, 1.0)
            except (TimeoutError, asyncio.CancelledError):
                pass  # a grandchild kept the pipe open; wait_for cancelled the reader

    # -- supervision ---------------------------------------------------------------------------

    async def _resync(self) -> None:
        """Call ``on_start`` until it succeeds or Caddy exits (the next start resyncs again)."""
        process = self._process
        while process is not None and process.returncode is None and not self._stopping.is_set():
            try:
                await self._on_start()
            except Exception:
                log.exception("Re-syncing routes into Caddy failed; retrying")
                await wait_event(self._stopping, self.settings.resync_retry_s)
                continue
            self.resyncs += 1
            return

    async def _supervise(self) -> None:
        backoff = self.settings.backoff_initial_s
        while not self._stopping.is_set():
            process = self._process
            if process is not None:
                started = self._clock.monotonic()
                code = await process.wait()
                if self._stopping.is_set():
                    return
                if self._clock.monotonic() - started >= self.settings.stable_after_s:
                    backoff = self.settings.backoff_initial_s
                log.warning("Caddy exited (%s): %s; restarting in %.1fs", code, self._last_output(), backoff)
                await self._stop_process()
            await wait_event(self._stopping, backoff)
            if self._stopping.is_set():
                return
            try:
                await self._start()
            except Error as exc:
                log.error("Restarting Caddy failed: %s", exc.message)
                backoff = min(backoff * 2, self.settings.backoff_max_s)
                continue
            await self._resync()
            backoff = min(backoff * 2, self.settings.backoff_max_s)


def _orphan_pid(pid_file: Path, bootstrap: Path) -> int | None:
    """The pid in ``pid_file`` if that process still runs Caddy with our bootstrap config."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if str(bootstrap).encode() in cmdline else None  # else the pid was reused


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
