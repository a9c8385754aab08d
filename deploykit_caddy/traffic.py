"""``CaddyTraffic``: the daemon's ingress, a supervised Caddy, an existing one, or none.

Caddy never blocks the daemon: a missing binary, a taken port or an unreachable admin API is
logged, ``ping()`` answers False (``/api/health`` says ``ingress: false``), and the daemon keeps
serving. Routes live in ``CaddyIngress``'s memory (the reconciler recomputes them from the
database at every start and every change) and go back into Caddy whenever it (re)starts: the
supervisor's ``on_start`` in supervised mode, a once-a-second ``ensure_routes`` in external mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploykit.clock import wait_event
from deploykit.errors import UNAVAILABLE, Error
from deploykit.ingress import DomainCheck, Route
from deploykit_caddy.config import CaddySettings
from deploykit_caddy.ingress import CaddyIngress
from deploykit_caddy.kernel import enable_tcp_migrate_req
from deploykit_caddy.supervisor import CaddySupervisor, SupervisorSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrafficSettings:
    """Which Caddy the daemon routes through, and how it looks after it."""

    data_dir: Path
    """Supervised mode: Caddy's socket, config and certificates go under ``data_dir / "caddy"``."""
    enabled: bool = True
    """False (``--no-ingress``): no Caddy at all; services get no domains routed."""
    caddy_admin: str | None = None
    """An existing Caddy's admin URL (external mode); None supervises our own Caddy."""
    caddy_bin: str | None = None
    """Supervised mode: the binary; None: ``caddy`` from PATH, when there is one."""
    keep_caddy: bool = True
    """Supervised mode: Caddy keeps serving when the daemon stops, and the next start adopts it
    (sites outlive the daemon); False stops it with the daemon (``--stop-caddy``)."""
    http_port: int = 80
    https_port: int = 443
    redirect_http: bool = True
    acme_email: str | None = None
    public_addresses: tuple[str, ...] = ()
    ensure_interval_s: float = 1.0
    """External mode: how often Caddy's routes are compared with ours (one GET when all is well)."""
    first_start_timeout_s: float = 5.0
    """Supervised mode: how long the first start may take to accept the routes."""
    retry_initial_s: float = 2.0
    retry_max_s: float = 60.0
    """Supervised mode: pauses between two attempts to start a Caddy that failed to start."""

    def caddy_settings(self, *, supervised: bool) -> CaddySettings:
        return CaddySettings(
            http_port=self.http_port,
            https_port=self.https_port,
            redirect_http=self.redirect_http,
            acme_email=self.acme_email,
            public_addresses=self.public_addresses,
            # An existing Caddy keeps its own certificate storage (it may not reach our data directory).
            storage_dir=str(self.data_dir / "caddy" / "storage") if supervised else None,
        )


class TolerantIngress:
    """The Ingress the reconciler gets: ``CaddyIngress``, except that an unreachable Caddy does
    not fail a rollout. The route is kept as desired state either way (``CaddyIngress`` records
    it before talking to Caddy) and goes into Caddy as soon as it answers again; meanwhile there
    is no proxy to switch, so nothing is lost by carrying on."""

    def __init__(self, caddy: CaddyIngress) -> None:
        self.caddy = caddy

    async def ping(self) -> bool:
        return await self.caddy.ping()

    async def sync_routes(self, routes: list[Route]) -> None:
        await self._tolerate(self.caddy.sync_routes(routes), "routes")

    async def set_route(self, route: Route) -> None:
        await self._tolerate(self.caddy.set_route(route), f"the route of service {route.service_id}")

    async def remove_route(self, service_id: str) -> None:
        await self._tolerate(self.caddy.remove_route(service_id), f"the route of service {service_id}")

    async def check_domain(self, hostname: str) -> DomainCheck:
        return await self.caddy.check_domain(hostname)

    @staticmethod
    async def _tolerate(change: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await change
        except Error as exc:
            if exc.code != UNAVAILABLE:
                raise
            log.warning("Caddy did not take %s (%s); it gets it when it answers again", what, exc.message)


class CaddyTraffic:
    """Owns Caddy for the daemon. ``open()`` never raises for Caddy's sake (it logs and retries in
    the background instead); ``close()`` stops what it started. After ``open()``, ``ingress`` is
    what the reconciler routes through and checks domains with (None: no Caddy to route through)."""

    def __init__(self, settings: TrafficSettings) -> None:
        self.settings = settings
        self.caddy: CaddyIngress | None = None
        self.ingress: TolerantIngress | None = None
        self.supervisor: CaddySupervisor | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def open(self) -> None:
        s = self.settings
        if not s.enabled:
            log.info("ingress disabled (--no-ingress): services get no domains routed")
            return
        if s.caddy_admin is not None:
            caddy = CaddyIngress(s.caddy_admin, settings=s.caddy_settings(supervised=False))
            await caddy.open()
            self.caddy, self.ingress = caddy, TolerantIngress(caddy)
            self._task = asyncio.create_task(self._ensure_loop(caddy), name="caddy-ensure-routes")
            log.info("using the Caddy at %s", s.caddy_admin)
            return
        caddy_bin = s.caddy_bin or shutil.which("caddy")
        if caddy_bin is None:
            log.warning("no Caddy found on PATH (use --caddy-bin or --caddy-admin); serving without ingress")
            return
        if enable_tcp_migrate_req() is False:
            log.warning("could not set net.ipv4.tcp_migrate_req=1 (not root?): a route change may reset a connection")
        sup = SupervisorSettings(
            data_dir=str(s.data_dir / "caddy"),
            caddy_bin=caddy_bin,
            open_sync_timeout_s=s.first_start_timeout_s,
            keep_running=s.keep_caddy,
        )
        caddy = CaddyIngress(sup.admin_url, settings=s.caddy_settings(supervised=True))
        await caddy.open()
        self.caddy, self.ingress = caddy, TolerantIngress(caddy)

        async def adopt() -> None:
            # A Caddy left serving by the previous daemon keeps its routes: take them over (no
            # reload when they match); the reconciler's first resync then sets the whole truth.
            await caddy.ensure_routes()

        self.supervisor = CaddySupervisor(
            settings=sup, on_start=lambda: caddy.sync_routes(caddy.routes()), on_adopt=adopt
        )
        try:
            await self.supervisor.open()
        except Error as exc:
            log.error("Caddy could not start (%s); serving without it and retrying", exc.message)
            self._task = asyncio.create_task(self._start_loop(self.supervisor), name="caddy-start")

    async def ping(self) -> bool:
        return self.caddy is not None and await self.caddy.ping()

    @property
    def caddy_pid(self) -> int | None:
        return self.supervisor.pid if self.supervisor is not None else None

    async def close(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.supervisor is not None:
            with contextlib.suppress(Exception):
                await self.supervisor.close()
        if self.caddy is not None:
            await self.caddy.close()

    async def _pause(self, seconds: float) -> None:
        await wait_event(self._stopping, seconds)

    async def _ensure_loop(self, caddy: CaddyIngress) -> None:
        """External mode: put our routes back whenever that Caddy lost them (restarted, edited)."""
        reachable = True
        while not self._stopping.is_set():
            try:
                await caddy.ensure_routes()
            except Error as exc:
                if reachable:
                    log.warning("Caddy at %s: %s", caddy.admin_url, exc.message)
                reachable = False
            except Exception:
                log.exception("checking Caddy's routes failed")
            else:
                if not reachable:
                    log.info("Caddy at %s answers again", caddy.admin_url)
                reachable = True
            await self._pause(self.settings.ensure_interval_s)

    async def _start_loop(self, supervisor: CaddySupervisor) -> None:
        """Supervised mode, when the first start failed (port taken, bad binary): try again with
        backoff; once started, the supervisor keeps it running."""
        backoff = self.settings.retry_initial_s
        while not self._stopping.is_set():
            await self._pause(backoff)
            if self._stopping.is_set():
                return
            try:
                await supervisor.open()
            except Error as exc:
                log.debug("Caddy still cannot start: %s", exc.message)
                backoff = min(backoff * 2, self.settings.retry_max_s)
            else:
                log.info("Caddy started after all")
                return
