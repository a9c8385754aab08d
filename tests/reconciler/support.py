"""A real DeployKit stack minus HTTP: SQLite store, event bus, Docker runtime, reconciler.

Each harness only owns the projects it created (``ReconcilerSettings.owns_project``), so tests
share the engine with anything else, and ``cleanup()`` removes every object those projects left.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from deploykit.build import BuildScheduler
from deploykit.container import ContainerFilter, ContainerRecord
from deploykit.deployment import Deployment, DeploymentFilter
from deploykit.envvar import EnvVarFilter, Scope
from deploykit.ingress import Ingress
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChangeCreate
from deploykit.project import Project, ProjectCreate
from deploykit.runtime import LABEL_INSTANCE, ContainerState
from deploykit.service import Service, ServiceFilter
from deploykit_docker import DockerRuntime, SocketHealthProbe
from deploykit_events.bus import EventBus
from deploykit_reconciler import Reconciler, ReconcilerSettings
from deploykit_sqlite import Store
from tests.wait import wait_for

T = TypeVar("T")
INDEX = "deploykit test image"

FAST = ReconcilerSettings(
    interval_s=2.0,
    workers=4,
    backoff_min_s=0.2,
    backoff_max_s=2.0,
    shutdown_timeout_s=5.0,
    min_ready_s=0.5,
    readiness_poll_s=0.05,
    readiness_timeout_s=30.0,
    stop_grace_s=1.0,
    crash_window_s=1.0,
    pull_mutable_tags=False,
    events_retry_s=0.2,
)


async def http_get(host: str, port: int, path: str = "/", within: float = 2.0) -> tuple[int, str] | None:
    """(status, body) of a plain HTTP/1.0 GET, or None when nothing answers."""
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            data = await reader.read()
            writer.close()
    except (OSError, TimeoutError):
        return None
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    parts = head.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), body


async def docker_cli(*args: str, check: bool = True) -> str:
    """Run the docker CLI (as a user would, behind DeployKit's back); its stdout."""
    proc = await asyncio.create_subprocess_exec(
        "docker", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {err.decode(errors='replace')}")
    return out.decode(errors="replace")


def httpd(port: int = 8080, before: str = "") -> list[str]:
    """busybox httpd in the foreground serving /www (with an index.html), after ``before``."""
    return ["sh", "-c", f"mkdir -p /www; echo '{INDEX}' > /www/index.html; {before} exec httpd -f -p {port} -h /www"]


@dataclass
class Harness:
    store: Store
    bus: EventBus
    runtime: DockerRuntime
    settings: ReconcilerSettings
    image: str
    project_ids: set[str] = field(default_factory=set)
    instance_id: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:12]}")
    reconciler: Reconciler | None = None
    ingress: Ingress | None = None
    builds: BuildScheduler | None = None

    def new_reconciler(self, **overrides: Any) -> Reconciler:
        settings = replace(self.settings, instance_id=self.instance_id, **overrides)
        return Reconciler(
            runtime=self.runtime,
            logs=self.runtime,
            probe=SocketHealthProbe(),
            projects=self.store.projects,
            services=self.store.services,
            deployments=self.store.deployments,
            containers=self.store.containers,
            bus=self.bus,
            ingress=self.ingress,
            domains=self.store.domains if self.ingress is not None else None,
            builds=self.builds,
            deploy_keys=self.store.deploy_keys if self.builds is not None else None,
            settings=settings,
        )

    async def start(self, **overrides: Any) -> Reconciler:
        self.reconciler = self.new_reconciler(**overrides)
        await self.reconciler.start()
        return self.reconciler

    async def stop(self) -> None:
        if self.reconciler is not None:
            await self.reconciler.stop()
            self.reconciler = None

    @property
    def rec(self) -> Reconciler:
        assert self.reconciler is not None
        return self.reconciler

    # -- store --------------------------------------------------------------------------------

    async def project(self, name: str = "Test") -> Project:
        p = await self.store.projects.create_project(ProjectCreate(name=name))
        self.project_ids.add(p.id)
        return p

    async def stage(self, project: Project, kind: ChangeKind, payload: dict[str, Any], **kw: Any) -> None:
        await self.store.pending_changes.append_pending_change(
            PendingChangeCreate(project_id=project.id, kind=kind, payload=payload, **kw)
        )

    async def apply(self, project: Project) -> ApplyResult:
        return await self.store.pending_changes.apply_pending_changes(project.id, None)

    async def create_service(self, project: Project, name: str, **config: Any) -> Service:
        payload: dict[str, Any] = {"name": name, "source": {"type": "image", "image": self.image}, **config}
        await self.stage(project, ChangeKind.SERVICE_CREATE, payload)
        result = await self.apply(project)
        (service_id,) = result.temp_id_to_service_id.values()
        return await self.store.services.get_service(service_id)

    async def update_service(self, service: Service, **payload: Any) -> ApplyResult:
        project = await self.store.projects.get_project(service.project_id)
        await self.stage(project, ChangeKind.SERVICE_UPDATE, payload, target_id=service.id)
        return await self.apply(project)

    async def set_env(self, service: Service, key: str, value: str) -> ApplyResult:
        project = await self.store.projects.get_project(service.project_id)
        existing = [
            v
            for v in await self.store.env_vars.list_env_vars(
                EnvVarFilter(project_id=service.project_id, scope=Scope.SERVICE, scope_id=service.id)
            )
            if v.key == key
        ]
        if existing:
            await self.stage(project, ChangeKind.ENV_VAR_UPDATE, {"value": value}, target_id=existing[0].id)
        else:
            await self.stage(
                project,
                ChangeKind.ENV_VAR_CREATE,
                {"scope": "service", "scope_id": service.id, "key": key, "value": value},
            )
        return await self.apply(project)

    async def service(self, service_id: str) -> Service:
        return await self.store.services.get_service(service_id)

    async def deployment(self, deployment_id: str) -> Deployment:
        return await self.store.deployments.get_deployment(deployment_id)

    async def deployments(self, service_id: str) -> list[Deployment]:
        items, _ = await self.store.deployments.list_deployments(DeploymentFilter(service_id=service_id, limit=100))
        return items

    async def records(self, service_id: str) -> list[ContainerRecord]:
        return await self.store.containers.list_containers(ContainerFilter(service_id=service_id))

    async def services(self, project: Project) -> list[Service]:
        items, _ = await self.store.services.list_services(ServiceFilter(project_id=project.id))
        return items

    # -- engine -------------------------------------------------------------------------------

    async def containers(self, *, service_id: str | None = None, project_id: str | None = None) -> list[ContainerState]:
        out = []
        for x in await self.runtime.list_containers():
            if x.labels.get(LABEL_INSTANCE) != self.instance_id:
                continue
            if service_id is not None and x.service_id != service_id:
                continue
            if project_id is not None and x.project_id != project_id:
                continue
            out.append(x)
        return out

    async def running(self, service_id: str, deployment_id: str | None = None) -> list[ContainerState]:
        return [
            x
            for x in await self.containers(service_id=service_id)
            if x.state == "running" and (deployment_id is None or x.deployment_id == deployment_id)
        ]

    async def wait_status(self, service_id: str, status: str, within: float = 20.0) -> Service:
        async def check() -> Service | None:
            s = await self.service(service_id)
            return s if s.status == status else None

        return await wait_for(check, within=within, message=f"service status {status}")

    async def wait_deployment(self, deployment_id: str, status: str, within: float = 20.0) -> Deployment:
        async def check() -> Deployment | None:
            d = await self.deployment(deployment_id)
            return d if d.status == status else None

        return await wait_for(check, within=within, message=f"deployment {deployment_id[:8]} {status}")

    async def cleanup(self) -> None:
        """Remove every container, volume and network of this harness's projects."""
        for x in await self.runtime.list_containers():
            if x.labels.get(LABEL_INSTANCE) == self.instance_id:
                await self.runtime.remove_container(x.id)
        for v in await self.runtime.list_volume_infos():
            if v.labels.get(LABEL_INSTANCE) == self.instance_id:
                await self.runtime.remove_volume(v.name)
        for n in await self.runtime.list_networks():
            if n.labels.get(LABEL_INSTANCE) == self.instance_id:
                await self.runtime.remove_network(n.name)
