"""What the HTTP adapter is built from: Protocol-typed collaborators and settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from starlette.websockets import WebSocket

from deploykit.audit import AuditService
from deploykit.auth import AuthService
from deploykit.backup_record import BackupRunner
from deploykit.build import DeployKeyGenerator, DeployKeyService
from deploykit.bus import EventBus
from deploykit.canvas import CanvasService
from deploykit.clock import Clock, SystemClock
from deploykit.container import ContainerService
from deploykit.deployment import DeploymentService
from deploykit.engine import EngineInventory
from deploykit.envvar import EnvVarService
from deploykit.errors import NOT_FOUND, Error
from deploykit.health import HealthMonitor, HealthRecordService
from deploykit.ingress import DomainChecker, DomainService
from deploykit.logs import LogStreamer
from deploykit.metrics import MetricsService
from deploykit.node import NodeService
from deploykit.notification import ChannelService, ChannelTester
from deploykit.preview import PreviewService
from deploykit.project import Project, ProjectService
from deploykit.runtime import Restarter, Runtime
from deploykit.service import Service, ServiceService
from deploykit.staging import StagingService
from deploykit.system import SystemService
from deploykit.user import UserService
from deploykit.webhook import WebhookService
from deploykit_http.errors import unavailable
from deploykit_http.identity import Identities
from deploykit_http.ratelimit import LoginLimiter, RequestLimiter

SPA_DIR = Path(__file__).resolve().parent / "spa_assets"


async def _false() -> bool:
    return False


@dataclass(frozen=True, kw_only=True)
class Collaborators:
    """The services the handlers call. The runtime-side ones are optional: without them their
    routes answer 503 ``unavailable`` (a daemon whose Docker adapter is missing still serves)."""

    auth: AuthService
    users: UserService
    projects: ProjectService
    services: ServiceService
    deployments: DeploymentService
    containers: ContainerService
    canvas: CanvasService
    env_vars: EnvVarService
    pending_changes: StagingService
    bus: EventBus
    ping_database: Callable[[], Awaitable[bool]] = _false
    data_version: Callable[[], int | None] | None = None
    """A number that changes whenever data is committed to the store, by any connection or
    process (``Store.data_version``); it lets cached endpoints answer an unchanged store from
    their last answer. None (or a None result) answers every request afresh."""
    runtime: Runtime | None = None
    logs: LogStreamer | None = None
    restarter: Restarter | None = None
    """Restarts a service's replicas (the reconciler). Nothing else of the reconciler is here:
    what users change reaches it through the store's events."""
    system: SystemService | None = None
    ping_ingress: Callable[[], Awaitable[bool]] | None = None
    domains: DomainService | None = None
    domain_checker: DomainChecker | None = None
    """Refreshes a domain's DNS and TLS status (the Caddy adapter); None leaves stored status."""
    health: HealthRecordService | None = None
    health_monitor: HealthMonitor | None = None
    metrics: MetricsService | None = None
    """The stored metrics history (``deploykit_sqlite.MetricsStore``, filled by the sampler)."""
    webhooks: WebhookService | None = None
    previews: PreviewService | None = None
    """Pull-request previews; without them a pull/merge request delivery answers 503."""
    deploy_keys: DeployKeyService | None = None
    generate_deploy_key: DeployKeyGenerator | None = None
    backups: BackupRunner | None = None
    """On-demand and scheduled backups (``deploykit_backup.BackupScheduler``); None answers 503."""
    engine: EngineInventory | None = None
    """The container engine's objects and pruning (``deploykit_docker.DockerInventory``); None answers 503."""
    notification_channels: ChannelService | None = None
    notifier: ChannelTester | None = None
    """Sends a channel's test notification (``deploykit_notify.Notifier``)."""
    audit: AuditService | None = None
    nodes: NodeService | None = None
    """The engine's nodes: the swarm's (``deploykit_swarm.SwarmNodes``) or the one local engine
    (``deploykit_docker.EngineNode``); None answers 503."""
    clock: Clock = field(default_factory=SystemClock)


@dataclass(frozen=True, kw_only=True)
class HTTPSettings:
    version: str = "0.0.0"
    cors_origins: tuple[str, ...] = ("*",)
    """``*`` allows any origin (CORS and the canvas WebSocket's origin check)."""
    base_domain: str = "localhost"
    max_body_bytes: int = 1024 * 1024
    spa_dir: Path = SPA_DIR
    identity_cache_s: float = 5.0
    """How long a verified token is trusted without asking the store again (see identity.py)."""
    ws_auth_timeout_s: float = 5.0
    ws_send_queue: int = 512
    """Messages buffered per canvas client; a client that falls further behind is disconnected."""
    ws_session_check_s: float = 15.0
    sse_ping_s: float = 15.0
    sse_auth_check_s: float = 2.0
    """How often an open event stream asks whether its session or API key still works."""
    login_max_failures: int = 5
    """Failed logins of one account from one address in 15 minutes (see ratelimit.py)."""
    api_rate: float = 50.0
    """Requests per second one client (a token, else an address) may keep making; 0: no limit."""
    api_burst: int = 200
    """Requests one client may make at once before ``api_rate`` applies. A page of the UI makes
    a few dozen; polling at 20 a second never empties the bucket."""
    allow_local_repos: bool = False
    """Stage git sources on this host (``file://``, paths, loopback); the daemon's ``--allow-local-repos``."""
    access_log: bool = True
    """One line per request on the ``deploykit.access`` logger (see access_log.py)."""
    public_http_port: int | None = 80
    public_https_port: int | None = 443
    """The ingress's listeners (``--http-port``/``--https-port``; None without ingress), told to the
    UI in ``/api/health`` so that links to services carry the port."""


class Sockets(Protocol):
    """What handlers may ask of the canvas hub (``hub.py``): serve its WebSocket, end sockets
    whose credentials ended, and know when the server shuts down. What changed in a project
    reaches the rooms through the event bus, never through here."""

    shutdown_event: asyncio.Event

    async def serve(self, ws: WebSocket) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def end_session(self, session_id: str) -> None: ...

    async def end_user(self, user_id: str) -> None: ...

    async def end_user_sessions(self, user_id: str, *, except_session_id: str | None) -> None: ...

    async def end_api_key(self, api_key_id: str) -> None: ...


@dataclass
class Context:
    """Everything a handler may use. Built once per app by ``build_app``."""

    c: Collaborators
    settings: HTTPSettings
    identities: Identities
    limiter: LoginLimiter
    requests: RequestLimiter
    hub: Sockets

    async def project(self, project_id: str) -> Project:
        return await self.c.projects.get_project(project_id)

    async def service_in(self, project_id: str, service_id: str) -> Service:
        """The service, which must belong to the project: anything else is ``not_found``."""
        svc = await self.c.services.get_service(service_id)
        if svc.project_id != project_id:
            raise Error(NOT_FOUND, "Service not found.")
        return svc

    def runtime(self) -> Runtime:
        if self.c.runtime is None:
            raise unavailable("The container runtime")
        return self.c.runtime

    def logs(self) -> LogStreamer:
        if self.c.logs is None:
            raise unavailable("Container logs")
        return self.c.logs

    def restarter(self) -> Restarter:
        if self.c.restarter is None:
            raise unavailable("The reconciler")
        return self.c.restarter

    def require_deploys(self) -> None:
        """Deployments are acted on only by a daemon with a container runtime (and so a
        reconciler): without one, asking for a deployment or a stop is ``unavailable``."""
        if self.c.runtime is None:
            raise unavailable("The reconciler")

    def channels(self) -> ChannelService:
        if self.c.notification_channels is None:
            raise unavailable("The notification service")
        return self.c.notification_channels

    def notifier(self) -> ChannelTester:
        if self.c.notifier is None:
            raise unavailable("The notification service")
        return self.c.notifier

    def audit(self) -> AuditService:
        if self.c.audit is None:
            raise unavailable("The audit log")
        return self.c.audit

    def system(self) -> SystemService:
        if self.c.system is None:
            raise unavailable("System introspection")
        return self.c.system
