"""``CaddySupervisor``: runs DeployKit's own ``caddy run`` and keeps it running.

With ``keep_running`` (the daemon's default) Caddy outlives the daemon: it runs in its own session
with its output in ``caddy.log``, ``close()`` leaves it serving, and the next ``open()`` adopts it
(found by ``caddy.pid``, checked against its command line and its admin API) instead of starting
another, so a daemon restart or upgrade never takes the sites down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from deploykit.clock import Clock, SystemClock, wait_event
from deploykit.errors import UNAVAILABLE, Error
from deploykit_caddy.admin import UNIX_PREFIX, AdminUnreachable, admin_client
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
    keep_running: bool = False
    """Leave Caddy serving at ``close()`` and adopt a running one at ``open()``; False stops it at
    ``close()`` and replaces one left running."""
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
    only source of truth, and the callback puts them back. An adopted Caddy (``keep_running``)
    still serves the routes it had; ``on_adopt`` (if any) is called instead of ``on_start``.
    """

    def __init__(
        self,
        *,
        settings: SupervisorSettings,
        on_start: OnStart,
        on_adopt: OnStart | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._on_start = on_start
        self._on_adopt = on_adopt
        self._clock = clock or SystemClock()
        self._process: CaddyProcess | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.starts = 0
        """How many times Caddy was started (1 after ``open``)."""
        self.resyncs = 0
        """How many times ``on_start`` completed."""
        self.adopted: int | None = None
        """The pid of the running Caddy ``open`` adopted, if it did."""

    @property
    def admin_url(self) -> str:
        return self.settings.admin_url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.running else None

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
        if self.settings.keep_running and await self._adopt():
            self._task = asyncio.create_task(self._supervise(), name="caddy-supervisor")
            return
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
        """Stop supervising; stop Caddy too unless ``keep_running`` (then it keeps serving every
        route, and the next ``open`` adopts it)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.settings.keep_running and self._process is not None and self._process.running:
            log.info("Leaving Caddy (pid %s) serving; the next start adopts it", self._process.pid)
            self._process.release()
            self._process = None
            return
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

    @property
    def _log_file(self) -> Path:
        return Path(self.settings.data_dir) / "caddy.log"

    async def _adopt(self) -> bool:
        """Take over the Caddy a previous daemon left serving from this data directory: the same
        binary, run with our bootstrap config, answering on our admin address. False (and
        nothing changed) when there is none to adopt."""
        pid = _orphan_pid(self._pid_file, self._pid_file.parent / "caddy-bootstrap.json")
        if pid is None or not _same_binary(pid, self.settings.caddy_bin):
            return False
        try:
            process = CaddyProcess.adopt(pid)
        except OSError:
            return False
        try:
            await self._wait_until_answering(process, timeout_s=min(2.0, self.settings.start_timeout_s))
            if self._on_adopt is not None:
                await asyncio.wait_for(self._on_adopt(), self.settings.open_sync_timeout_s)
        except (Error, TimeoutError) as exc:
            process.release()
            log.warning("The Caddy (pid %s) left running does not answer as expected (%s); replacing it", pid, exc)
            return False
        self._process = process
        self.adopted = pid
        log.info("Adopted the running Caddy (pid %s, admin %s)", pid, self.admin_url)
        return True

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
            # Output to a file, not a pipe: a Caddy that outlives the daemon must not die writing
            # to a pipe nobody reads. Truncated at each start, so it holds this Caddy's story.
            with self._log_file.open("wb") as output:
                child = await asyncio.create_subprocess_exec(
                    self.settings.caddy_bin,
                    "run",
                    "--config",
                    str(config),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=output,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # a Ctrl-C to the daemon's terminal is the daemon's to handle
                )
        except OSError as exc:
            raise Error(UNAVAILABLE, f"Cannot start Caddy ({self.settings.caddy_bin}).") from exc
        process = CaddyProcess.child(child)
        self._process = process
        self.starts += 1
        self._pid_file.write_text(f"{process.pid}\n")
        try:
            await self._wait_until_answering(process, timeout_s=self.settings.start_timeout_s)
        except Error:
            await self._stop_process()
            raise
        log.info("Caddy started (pid %s, admin %s)", process.pid, self.admin_url)

    async def _wait_until_answering(self, process: CaddyProcess, *, timeout_s: float) -> None:
        deadline = self._clock.monotonic() + timeout_s
        exited = asyncio.create_task(process.wait(), name="caddy-exit")
        try:
            async with admin_client(self.admin_url, 1.0) as client:
                while True:
                    if not process.running:
                        raise Error(UNAVAILABLE, f"Caddy exited at start ({process.returncode}): {self._last_output()}")
                    try:
                        response = await client.get("/config/admin")
                        if response.status_code == 200:
                            return
                    except AdminUnreachable:
                        pass
                    if self._clock.monotonic() > deadline:
                        raise Error(UNAVAILABLE, f"Caddy's admin API did not answer in {timeout_s:g}s.")
                    # Caddy binds its admin socket within milliseconds; wake early if it exits instead.
                    await asyncio.wait({exited}, timeout=0.02)
        finally:
            exited.cancel()

    def _last_output(self) -> str:
        try:
            with open(self._log_file, "rb") as output:
                output.seek(max(0, output.seek(0, os.SEEK_END) - 4096))
                lines = output.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(line.rstrip() for line in lines[-3:])

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), self.settings.stop_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                await process.wait()
        process.release()

    # -- supervision ---------------------------------------------------------------------------

    async def _resync(self) -> None:
        """Call ``on_start`` until it succeeds or Caddy exits (the next start resyncs again)."""
        process = self._process
        while process is not None and process.running and not self._stopping.is_set():
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
                code = await process.wait()  # None for an adopted Caddy: not our child to reap
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


class CaddyProcess:
    """A Caddy the supervisor watches: its own child, or one it adopted (a child of whoever
    reaped the previous daemon), whose exit it learns from a pidfd."""

    def __init__(self, pid: int, *, child: asyncio.subprocess.Process | None, pidfd: int | None) -> None:
        self.pid = pid
        self._child = child
        self._pidfd = pidfd
        self._gone = asyncio.Event()
        if pidfd is not None:
            asyncio.get_running_loop().add_reader(pidfd, self._on_exit)

    @classmethod
    def child(cls, process: asyncio.subprocess.Process) -> CaddyProcess:
        return cls(process.pid, child=process, pidfd=None)

    @classmethod
    def adopt(cls, pid: int) -> CaddyProcess:
        """Raises ``OSError`` when the process is gone."""
        return cls(pid, child=None, pidfd=os.pidfd_open(pid))

    def _on_exit(self) -> None:
        self._gone.set()
        self.release()

    @property
    def running(self) -> bool:
        if self._child is not None:
            return self._child.returncode is None
        return not self._gone.is_set() and _alive(self.pid)

    @property
    def returncode(self) -> int | None:
        return self._child.returncode if self._child is not None else None

    async def wait(self) -> int | None:
        if self._child is not None:
            return await self._child.wait()
        await self._gone.wait()
        return None

    def release(self) -> None:
        """Stop watching (the process itself is left alone)."""
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


def _same_binary(pid: int, caddy_bin: str) -> bool:
    """Whether ``pid`` runs the binary we would start (an upgraded Caddy is restarted instead)."""
    wanted = shutil.which(caddy_bin) or caddy_bin
    try:
        return os.path.samefile(f"/proc/{pid}/exe", wanted)
    except OSError:
        return False


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
