"""The composition root: build every adapter, hand each to the others as a domain Protocol, run.

``Main`` has ``open()`` (store, Docker, reconciler, app), ``run(stop)`` (serve until ``stop`` is
set) and ``close()``. Shutdown fits in ``Config.shutdown_timeout_s`` (10 s): WebSockets are closed
with 1001 and event streams ended first, then uvicorn finishes in-flight requests, then background
work stops and the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette

from deploykit import __version__
from deploykit.build import Builder
from deploykit.clock import SystemClock
from deploykit.errors import UNAVAILABLE, Error
from deploykit_backup import BackupScheduler, BackupSources
from deploykit_caddy import CaddyTraffic, TrafficSettings
from deploykit_docker import DockerRuntime, SocketHealthProbe
from deploykit_docker.build_queue import BuildQueue
from deploykit_docker.builder import BuildSettings, DockerBuilder
from deploykit_docker.git import GitSettings
from deploykit_docker.inventory import DockerInventory
from deploykit_docker.keys import generate_deploy_key
from deploykit_docker.nodes import EngineNode
from deploykit_docker.volume_archive import DockerVolumeArchiver
from deploykit_events import EventBus
from deploykit_http.app import build_app
from deploykit_http.context import Collaborators, Context, HTTPSettings
from deploykit_notify import Notifier, NotifierSettings
from deploykit_reconciler import Reconciler, ReconcilerSettings
from deploykit_reconciler.builds import BuildPipeline
from deploykit_sqlite import Store
from deploykit_sqlite.cipher import KEY_FILE
from deploykit_sqlite.snapshot import SQLiteArchiver
from deploykit_sysinfo import MetricsSampler, MetricsSettings, SystemInfo
from deploykit_sysinfo.disk_watch import DiskWatch, DiskWatchSettings
from deploykitd.audit import AuditRecorder
from deploykitd.backup import BACKUPS_DIR
from deploykitd.config import Config

if TYPE_CHECKING:  # imported by --runtime swarm alone: the Swarm adapter costs others 0.6 MB
    from deploykit_swarm import SwarmRuntime
    from deploykit_swarm.nodes import SwarmNodes
    from deploykit_swarm.registry import RegistryPusher

log = logging.getLogger("deploykitd")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``Main`` owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Main:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.bus = EventBus()
        self.store: Store | None = None
        self.runtime: DockerRuntime | None = None
        """None when the Docker client could not be created; the runtime routes then answer 503."""
        self.swarm: SwarmRuntime | None = None
        """``--runtime swarm``: services run as Swarm services (volumes, images stay the engine's)."""
        self.swarm_nodes: SwarmNodes | None = None
        self.pusher: RegistryPusher | None = None
        """``--registry`` on a swarm: built images are pushed where every node pulls them."""
        self.builder: DockerBuilder | None = None
        self.builds: BuildPipeline | None = None
        self.reconciler: Reconciler | None = None
        self.system: SystemInfo | None = None
        self.backups: BackupScheduler | None = None
        self.app: Starlette | None = None
        self.server: _Server | None = None
        self.traffic = CaddyTraffic(traffic_settings(config))
        self.notifier: Notifier | None = None
        self.disk_watch = DiskWatch(
            bus=self.bus,
            settings=DiskWatchSettings(paths=("/", str(config.data_dir)), threshold_percent=config.disk_alert_percent),
        )
        self.audit: AuditRecorder | None = None
        self.metrics: MetricsSampler | None = None

    @property
    def context(self) -> Context:
        assert self.app is not None
        ctx: Context = self.app.state.context
        return ctx

    async def open(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cfg.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.store = Store(path=str(cfg.db_path), data_dir=cfg.data_dir, bus=self.bus, base_domain=cfg.base_domain)
        await self.store.open()
        # Subscribed before anything else publishes: the audit log and notifications miss nothing.
        self.audit = AuditRecorder(bus=self.bus, audit=self.store.audit, clock=SystemClock())
        self.audit.start()
        self.notifier = Notifier(
            bus=self.bus,
            channels=self.store.notification_channels,
            projects=self.store.projects,
            services=self.store.services,
            deployments=self.store.deployments,
            settings=NotifierSettings(public_url=cfg.public_url),
        )
        await self.notifier.start()
        self.disk_watch.start()
        await self.traffic.open()  # before the reconciler, whose first resync sets every route
        await self._open_runtime()
        await self._open_backups()
        if self.runtime is not None:
            self.metrics = MetricsSampler(
                runtime=self.swarm or self.runtime,
                store=self.store.metrics,
                clock=SystemClock(),
                settings=MetricsSettings(interval_s=cfg.metrics_interval_s, disk_path=str(cfg.data_dir)),
            )
            self.metrics.start()
        self.system = SystemInfo(
            version=__version__, docker=self.runtime, database_path=self.store.path, ingress=self.traffic.ingress
        )
        store = self.store
        collaborators = Collaborators(
            auth=store.auth,
            users=store.users,
            projects=store.projects,
            services=store.services,
            deployments=store.deployments,
            containers=store.containers,
            canvas=store.canvas,
            env_vars=store.env_vars,
            pending_changes=store.pending_changes,
            bus=self.bus,
            ping_database=store.ping,
            data_version=store.data_version,
            runtime=self.swarm or self.runtime,
            logs=self.swarm or self.runtime,
            restarter=self.reconciler,
            system=self.system,
            webhooks=store.webhooks,
            previews=store.previews,
            deploy_keys=store.deploy_keys,
            generate_deploy_key=generate_deploy_key,
            ping_ingress=self.traffic.ping if self.traffic.caddy is not None else None,
            domains=store.domains,
            domain_checker=self.traffic.ingress,
            health=store.health,
            health_monitor=self.reconciler,
            metrics=store.metrics,
            backups=self.backups,
            engine=DockerInventory(self.runtime, instance_id=cfg.instance_id) if self.runtime is not None else None,
            notification_channels=store.notification_channels,
            notifier=self.notifier,
            audit=store.audit,
            nodes=self.swarm_nodes or (EngineNode(self.runtime) if self.runtime is not None else None),
        )
        settings = HTTPSettings(
            version=__version__,
            cors_origins=cfg.cors_origins,
            base_domain=cfg.base_domain,
            api_rate=cfg.api_rate,
            api_burst=int(cfg.api_rate * 4),
            allow_local_repos=cfg.allow_local_repos,
            access_log=cfg.access_log,
            public_http_port=cfg.http_port if cfg.ingress else None,
            public_https_port=cfg.https_port if cfg.ingress else None,
        )
        self.app = build_app(collaborators, settings)
        host, port = cfg.host_port
        self.server = _Server(
            uvicorn.Config(
                self.app,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                lifespan="on",
                ws_max_size=1024 * 1024,
                server_header=False,
                # uvicorn believes X-Forwarded-For from loopback by default; only named proxies here.
                proxy_headers=bool(cfg.trusted_proxies),
                forwarded_allow_ips=list(cfg.trusted_proxies) or None,
                timeout_graceful_shutdown=max(1, int(cfg.shutdown_timeout_s / 2)),
            )
        )

    async def _open_runtime(self) -> None:
        """Docker and the reconciler. An unreachable engine does not stop the daemon from serving:
        ``/api/health`` says ``docker: false`` and the reconciler retries until it answers."""
        assert self.store is not None
        runtime = DockerRuntime(self.config.docker_host)
        try:
            await runtime.open()
        except Exception as exc:
            log.warning("Docker client could not be created: %s", exc)
            return
        self.runtime = runtime
        if not await runtime.ping():
            log.warning(
                "Docker does not answer at %s; serving without it", self.config.docker_host or "the default socket"
            )
        workloads = await self._open_swarm(runtime) if self.config.runtime == "swarm" else runtime
        store = self.store
        self.reconciler = Reconciler(
            runtime=workloads,
            logs=workloads,
            probe=SocketHealthProbe(),
            projects=store.projects,
            services=store.services,
            deployments=store.deployments,
            containers=store.containers,
            bus=self.bus,
            domains=store.domains,
            ingress=self.traffic.ingress,
            health=store.health,  # the health monitor's results, kept 24 hours
            builds=await self._open_builds(),
            deploy_keys=store.deploy_keys,
            settings=ReconcilerSettings(
                interval_s=self.config.reconcile_interval_s,
                shutdown_timeout_s=max(1.0, self.config.shutdown_timeout_s / 3),
                instance_id=self.config.instance_id,
            ),
        )
        await self.reconciler.start()

    async def _open_swarm(self, engine: DockerRuntime) -> SwarmRuntime:
        """``--runtime swarm``: refuses to start (RuntimeError) when the engine answers and is not
        a swarm manager; an engine that does not answer yet is retried like the Docker runtime."""
        from deploykit_swarm import SwarmRuntime
        from deploykit_swarm.nodes import SwarmNodes

        swarm = SwarmRuntime(engine, self.config.docker_host)
        await swarm.open()
        try:
            await swarm.require_manager()
        except Error as err:
            if err.code != UNAVAILABLE:
                await swarm.close()
                raise RuntimeError(err.message) from err
            log.warning("Docker does not answer; cannot check it is a swarm manager yet")
        self.swarm = swarm
        self.swarm_nodes = SwarmNodes(self.config.docker_host)
        await self.swarm_nodes.open()
        return swarm

    async def _open_builds(self) -> BuildPipeline:
        """Git builds: the Docker builder behind a bounded FIFO queue, with the daemon's limits
        and image pruning (``BuildPipeline``); the store publishes each stored line as ``build.log``."""
        assert self.store is not None
        cfg = self.config
        self.builder = DockerBuilder(
            docker_url=cfg.docker_host,
            work_dir=cfg.data_dir / "builds",
            settings=BuildSettings(git=GitSettings(allow_local=cfg.allow_local_repos)),
        )
        await self.builder.open()
        builder: Builder = self.builder
        if cfg.registry and self.swarm is None:
            log.warning("--registry is for --runtime swarm; one engine runs the images it builds")
        elif cfg.registry:
            from deploykit_swarm.registry import RegistryBuilder, RegistryPusher

            self.pusher = RegistryPusher(cfg.registry, cfg.docker_host)
            await self.pusher.open()
            builder = RegistryBuilder(self.builder, self.pusher)
        self.builds = BuildPipeline(
            BuildQueue(builder, max_concurrent=cfg.max_builds),
            deployments=self.store.deployments,
            pruner=self.builder,
            timeout_s=cfg.build_timeout_s,
            memory_mb=cfg.build_memory_mb,
        )
        return self.builds

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set (or the server fails), then shut down gracefully."""
        assert self.server is not None
        server = self.server
        serving = asyncio.create_task(self._serve(server), name="uvicorn")
        stopper = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if serving.done():
            serving.result()  # a failure to bind surfaces here
            return
        log.info("shutting down")
        await self.context.hub.stop()  # WebSockets closed with 1001, event streams ended
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(serving), self.config.shutdown_timeout_s * 0.6)
        except TimeoutError:
            server.force_exit = True
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    async def _serve(self, server: _Server) -> None:
        try:
            await server.serve()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind
            raise RuntimeError(f"the HTTP server could not start on {self.config.addr}") from exc
        if not server.started:
            raise RuntimeError(f"the HTTP server could not start on {self.config.addr}")

    async def _open_backups(self) -> None:
        """On-demand and scheduled backups of this daemon's database, key and volumes (a run
        cut short by the stop is recorded as failed, and its partial archive removed)."""
        assert self.store is not None
        cfg = self.config
        volumes = DockerVolumeArchiver(self.runtime, instance_id=cfg.instance_id) if self.runtime is not None else None
        sources = BackupSources(
            database=SQLiteArchiver(cfg.db_path), key_file=cfg.data_dir / KEY_FILE, volumes=volumes, version=__version__
        )
        self.backups = BackupScheduler(
            records=self.store.backups, sources=sources, backups_dir=cfg.data_dir / BACKUPS_DIR
        )
        await self.backups.start()

    async def close(self) -> None:
        if self.metrics is not None:
            with contextlib.suppress(Exception):
                await self.metrics.close()
        if self.backups is not None:
            with contextlib.suppress(Exception):
                await self.backups.stop()
        if self.reconciler is not None:
            with contextlib.suppress(Exception):
                await self.reconciler.stop()
        with contextlib.suppress(Exception):
            await self.traffic.close()
        if self.builds is not None:
            with contextlib.suppress(Exception):
                await self.builds.stop()  # a prune under way, before its engine client goes
        if self.builder is not None:
            with contextlib.suppress(Exception):
                await self.builder.close()
        if self.swarm is not None:
            with contextlib.suppress(Exception):
                await self.swarm.close()
        if self.swarm_nodes is not None:
            with contextlib.suppress(Exception):
                await self.swarm_nodes.close()
        if self.pusher is not None:
            with contextlib.suppress(Exception):
                await self.pusher.close()
        if self.runtime is not None:
            with contextlib.suppress(Exception):
                await self.runtime.close()
        with contextlib.suppress(Exception):
            await self.disk_watch.close()
        if self.notifier is not None:
            with contextlib.suppress(Exception):
                await self.notifier.close()
        if self.audit is not None:
            with contextlib.suppress(Exception):
                await self.audit.close()  # before the database closes: what is queued is recorded
        if self.store is not None:
            await self.store.close()
        self.bus.close()

    @property
    def started(self) -> bool:
        return self.server is not None and self.server.started


def traffic_settings(config: Config) -> TrafficSettings:
    """The ingress flags, for ``CaddyTraffic``."""
    return TrafficSettings(
        data_dir=config.data_dir,
        enabled=config.ingress,
        caddy_admin=config.caddy_admin,
        caddy_bin=config.caddy_bin,
        keep_caddy=config.keep_caddy,
        http_port=config.http_port,
        https_port=config.https_port,
        redirect_http=config.https_redirect,
        acme_email=config.acme_email,
        public_addresses=config.public_ips,
    )
