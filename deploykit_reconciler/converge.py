"""Converging one service (or one deleted project) towards what the store wants.

Desired state is the service's newest in-flight deployment (rolled out through the readiness
gate) or else its active healthy deployment (kept running). Actual state is every managed
container carrying the service's label. Everything here is idempotent: a daemon that restarts
half-way through a rollout finds the same labels and carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from deploykit.clock import Clock
from deploykit.container import ContainerFilter, ContainerRecord, ContainerService
from deploykit.deployment import (
    IN_FLIGHT,
    Deployment,
    DeploymentFailure,
    DeploymentFilter,
    DeploymentService,
    DeploymentStatus,
)
from deploykit.errors import INVALID, NOT_FOUND, UNAVAILABLE, Error
from deploykit.health import HealthProbe
from deploykit.ingress import DomainService, Ingress, Route
from deploykit.logs import LogStreamer
from deploykit.project import Project, ProjectService
from deploykit.runtime import (
    LABEL_PROJECT_ID,
    LABEL_SERVICE_ID,
    ContainerSpec,
    ContainerState,
    Runtime,
    VolumeMount,
    container_labels,
    container_name,
    managed_labels,
    volume_labels,
    volume_name,
)
from deploykit.service import GitSource, ImageSource, Service, ServiceService, ServiceStatus
from deploykit_reconciler.builds import BuildDriver
from deploykit_reconciler.health import HealthMonitor
from deploykit_reconciler.readiness import Cancelled, Failed, ReadinessGate, Ready
from deploykit_reconciler.settings import ReconcilerSettings
from deploykit_reconciler.status import LIVE_STATES, replica_slots, replica_up, serving_status

log = logging.getLogger(__name__)

CRASH_LOOP_WINDOW_S = 60.0
"""Replacements of one replica counted together to spot a crash loop."""


@dataclass(frozen=True, kw_only=True)
class Collaborators:
    runtime: Runtime
    logs: LogStreamer
    probe: HealthProbe
    projects: ProjectService
    services: ServiceService
    deployments: DeploymentService
    containers: ContainerService
    clock: Clock
    ingress: Ingress | None = None
    domains: DomainService | None = None


class Converger:
    def __init__(self, c: Collaborators, settings: ReconcilerSettings) -> None:
        self._c = c
        self._s = settings
        self.gate = ReadinessGate(
            runtime=c.runtime, probe=c.probe, deployments=c.deployments, clock=c.clock, settings=settings
        )
        self.routes: dict[str, list[str]] = {}
        """Upstreams last sent to the ingress, by service id."""
        self.route_hostnames: dict[str, list[str]] = {}
        """Hostnames last sent to the ingress, by service id."""
        self._wakes: dict[str, asyncio.Event] = {}
        self._replacements: dict[tuple[str, int], list[float]] = {}
        self._killed: set[str] = set()
        self.builds: BuildDriver | None = None
        """Set by the Reconciler when a build scheduler is wired; git deployments wait otherwise."""
        self.held_out: set[str] = set()
        """Containers the health monitor keeps out of routes until they pass their check again."""
        self.monitor: HealthMonitor | None = None
        """Set by the Reconciler: told which replicas of a healthy deployment serve."""

    def note_killed(self, container_id: str) -> None:
        """Docker reported a kill (someone's ``docker kill``): its death is not a crash."""
        if len(self._killed) > 10_000:
            self._killed.clear()
        self._killed.add(container_id)

    def wake(self, service_id: str) -> None:
        """Make a readiness wait on this service look again now (a Docker event arrived)."""
        event = self._wakes.get(service_id)
        if event is not None:
            event.set()

    # -- one service ------------------------------------------------------------------------------

    async def reconcile_service(self, service_id: str) -> float | None:
        """Converge one service; returns a delay after which it wants another look, if any."""
        c = self._c
        try:
            service = await c.services.get_service(service_id)
            project = await c.projects.get_project(service.project_id)
        except Error as err:
            if err.code != NOT_FOUND:
                raise
            await self.teardown_service(service_id)
            return None
        actual = await self._observe(service_id)
        in_flight, _ = await c.deployments.list_deployments(
            DeploymentFilter(service_id=service_id, statuses=IN_FLIGHT, limit=100)
        )
        active = await self._active(service)
        if service.stopped:
            self._unwatch(service_id)
            await self._retire([x for x in actual if x.state in LIVE_STATES], keep=True)
            await self._sync_records(service, await self._observe(service_id))
            await self._set_status(service, ServiceStatus.STOPPED)
            return None
        if in_flight:
            for older in in_flight[1:]:
                await self._cancel(older)
            return await self._roll_out(project, service, in_flight[0], active, actual)
        if active is None:
            self._unwatch(service_id)
            await self._retire(actual)
            await self._sync_records(service, [])
            if service.status not in {ServiceStatus.CREATED, ServiceStatus.FAILED}:
                failed, _ = await c.deployments.list_deployments(DeploymentFilter(service_id=service_id, limit=1))
                last_failed = bool(failed) and failed[0].status == DeploymentStatus.FAILED
                await self._set_status(service, ServiceStatus.FAILED if last_failed else ServiceStatus.CREATED)
            return None
        return await self._maintain(project, service, active, actual)

    async def _active(self, service: Service) -> Deployment | None:
        if service.active_deployment_id is None:
            return None
        try:
            return await self._c.deployments.get_deployment(service.active_deployment_id)
        except Error as err:
            if err.code == NOT_FOUND:
                return None
            raise

    async def _observe(self, service_id: str) -> list[ContainerState]:
        """The service's containers, inspected (restart counts and start times are not listed)."""
        listed = [x for x in await self._list() if x.service_id == service_id]
        out: list[ContainerState] = []
        for item in listed:
            try:
                out.append(await self._c.runtime.inspect_container(item.id))
            except Error as err:
                if err.code != NOT_FOUND:
                    raise
        return out

    async def _list(self) -> list[ContainerState]:
        return [x for x in await self._c.runtime.list_containers() if self._s.owns(x.labels)]

    async def _roll_out(
        self,
        project: Project,
        service: Service,
        target: Deployment,
        active: Deployment | None,
        actual: list[ContainerState],
    ) -> float | None:
        c = self._c
        if target.status in {DeploymentStatus.PENDING, DeploymentStatus.BUILDING}:
            source = target.config.source
            unbuilt = isinstance(source, GitSource) and target.image is None
            if target.status == DeploymentStatus.BUILDING or unbuilt or await self._rebuild_wanted(target):
                # Built first, in a task of its own; the build's end brings us back here.
                await self._set_status(service, ServiceStatus.DEPLOYING)
                if self.builds is not None:
                    await self.builds.ensure(project, service, target)
                return None
            target = await c.deployments.mark_starting(target.id, image=image_of(target))
        await self._set_status(service, ServiceStatus.DEPLOYING)
        try:
            pull = self._s.pull_mutable_tags and _mutable(image_of(target))
            await self._prepare(project, service, target, pull=pull)
        except Error as err:
            if self.builds is not None and (self.builds.building(target.id) or await self._rebuild_wanted(target)):
                # Already starting (the image went after that): rebuilt without going back to building.
                await self.builds.ensure(project, service, target)
                return None
            if err.code == NOT_FOUND or (err.code in {UNAVAILABLE, INVALID} and await c.runtime.ping()):
                await self._fail(target, Failed(reason=err.message), [])
                return await self._after_failure(project, service, active)
            raise
        others = [x for x in actual if x.deployment_id != target.id]
        mine = [x for x in actual if x.deployment_id == target.id]
        if target.config.rolls_stop_first and others:
            await c.deployments.append_log(target.id, "stopping the previous replicas first (volumes)\n")
            await self._retire(others)
            others = []
        replicas, _ = await self._ensure_replicas(project, service, target, mine, attempt=True)
        wake = self._wakes.setdefault(service.id, asyncio.Event())
        try:
            outcome = await self.gate.wait(target, replicas, wake)
        finally:
            self._wakes.pop(service.id, None)
        if isinstance(outcome, Cancelled):
            return 0.0
        if isinstance(outcome, Failed):
            await self._fail(target, outcome, replicas)
            await self._retire(replicas)
            return await self._after_failure(project, service, active)
        assert isinstance(outcome, Ready)
        await self._switch_traffic(service, target, outcome.containers)
        healthy = await c.deployments.mark_healthy(target.id)
        if self.monitor is not None:
            self.monitor.track(healthy, outcome.containers)
        await c.deployments.append_log(target.id, f"healthy: {len(outcome.containers)} replica(s) ready\n")
        if others:
            await self._drain(service)
            await self._retire(others)
        await self._sync_records(service, outcome.containers)
        await self._set_status(service, ServiceStatus.RUNNING)
        return None

    async def _rebuild_wanted(self, deployment: Deployment) -> bool:
        """A git deployment whose built image is gone (pruned: a rollback to an old one) is built
        again from its recorded commit, into the same tag, rather than failed."""
        source = deployment.config.source
        image = deployment.image
        if not (isinstance(source, GitSource) and image and deployment.commit_sha and self.builds is not None):
            return False
        # Never a registry pull: an image DeployKit built exists only here, and a pull of its name
        # could fetch someone else's image published under it.
        if await self._c.runtime.has_image(image):
            return False
        log.info("image %s of deployment %s is gone; rebuilding it", image, deployment.short_id)
        await self._c.deployments.append_log(
            deployment.id, f"image {image} is gone; rebuilding commit {deployment.commit_sha[:12]}\n"
        )
        return True

    async def _after_failure(self, project: Project, service: Service, active: Deployment | None) -> float | None:
        """The previous healthy deployment keeps (or, stop-first, goes back to) serving."""
        fresh = await self._c.services.get_service(service.id)
        if active is not None and not fresh.stopped:
            return await self._maintain(project, fresh, active, await self._observe(service.id))
        await self._sync_records(fresh, await self._observe(service.id))
        await self._set_status(fresh, ServiceStatus.FAILED)
        return None

    async def _maintain(
        self, project: Project, service: Service, active: Deployment, actual: list[ContainerState]
    ) -> float | None:
        """Keep the active deployment's replicas running; remove everything else."""
        await self._retire([x for x in actual if x.deployment_id != active.id])
        mine = [x for x in actual if x.deployment_id == active.id]
        replicas, held_back = await self._ensure_replicas(project, service, active, mine, attempt=False)
        now = self._c.clock.now()
        up = [x for x in replicas if replica_up(x, now, self._s.crash_window_s)]
        if self.monitor is not None:
            self.monitor.track(active, replicas)
        await self._switch_traffic(service, active, [x for x in up if x.id not in self.held_out])
        await self._sync_records(service, replicas)
        await self._set_status(service, serving_status(len(up), active.config.replicas))
        troubled = [x.replica_index for x in replicas if x not in up] + held_back
        if not troubled:
            return None
        # Look again once a fresh restart has had time to prove itself; back off a crash loop.
        loops = max(len(self._recent(active.id, i)) for i in troubled)
        delay = self._s.crash_window_s * 2 ** max(0, loops - self._s.bad_observations)
        return float(min(self._s.backoff_max_s, delay))

    async def _ensure_replicas(
        self, project: Project, service: Service, deployment: Deployment, mine: list[ContainerState], *, attempt: bool
    ) -> tuple[list[ContainerState], list[int]]:
        """One live container per replica index of ``deployment``; extras and dead ones go.
        Returns the replicas and, outside rollouts, the indices held back as crash-looping."""
        slots = replica_slots(deployment, mine)
        keep: dict[int, ContainerState] = {}
        doomed: list[ContainerState] = []
        missing: list[int] = []
        crashed: set[int] = set()
        for i in range(deployment.config.replicas):
            items = slots.pop(i, [])
            first = items[0] if items else None
            if first is not None and first.state in LIVE_STATES and (first.ip_address or first.state == "restarting"):
                keep[i] = first
                doomed.extend(items[1:])
            else:
                doomed.extend(items)
                missing.append(i)
                # Exited on its own (not killed or removed by someone): that counts towards a loop.
                if items and not any(x.id in self._killed for x in items):
                    crashed.add(i)
                for x in items:
                    self._killed.discard(x.id)
        for rest in slots.values():
            doomed.extend(rest)
        await self._retire(doomed, grace_s=0.0)
        looping: list[int] = []
        if missing:
            if not attempt:
                looping = [i for i in missing if len(self._recent(deployment.id, i)) >= self._s.bad_observations]
                missing = [i for i in missing if i not in looping]
                for i in looping:
                    log.warning("service %s replica %d keeps exiting; backing off", service.name, i)
            if missing:
                await self._prepare(project, service, deployment, pull=False)
                started = await asyncio.gather(*(self._run(project, service, deployment, i) for i in missing))
                for i, state in zip(missing, started, strict=True):
                    keep[i] = state
                    if not attempt and i in crashed:
                        self._replacements.setdefault((deployment.id, i), []).append(self._c.clock.monotonic())
                if attempt:
                    await self._c.deployments.record_attempt(deployment.id)
        return [keep[i] for i in sorted(keep)], looping

    def _recent(self, deployment_id: str, index: int) -> list[float]:
        horizon = self._c.clock.monotonic() - CRASH_LOOP_WINDOW_S
        times = [t for t in self._replacements.get((deployment_id, index), []) if t >= horizon]
        self._replacements[(deployment_id, index)] = times
        return times

    async def _prepare(self, project: Project, service: Service, deployment: Deployment, *, pull: bool) -> None:
        rt = self._c.runtime
        await rt.ensure_network(project.network_name, self._s.instance_labels(network_labels(project.id)))
        for vol in deployment.config.volumes:
            await rt.ensure_volume(
                volume_name(project.slug, service.slug, vol.name),
                self._s.instance_labels(volume_labels(project.id, service.id)),
            )
        image = image_of(deployment)
        if isinstance(deployment.config.source, GitSource):
            # Built here, never pulled (see _rebuild_wanted); a missing one is rebuilt by the caller.
            if not await rt.has_image(image):
                raise Error(NOT_FOUND, f"The image {image} is not on this host.")
            return
        await rt.ensure_image(image, pull=pull)

    def spec(self, project: Project, service: Service, deployment: Deployment, replica: int) -> ContainerSpec:
        cfg = deployment.config
        aliases = list(dict.fromkeys([service.slug, service.name.lower()]))
        return ContainerSpec(
            name=container_name(project.slug, service.slug, replica, deployment.id),
            image=image_of(deployment),
            labels=self._s.instance_labels(container_labels(project.id, service.id, deployment.id, replica)),
            network=project.network_name,
            aliases=aliases,
            env=dict(deployment.env_vars),
            command=list(cfg.command) if cfg.command is not None else None,
            port=cfg.port,
            cpus=cfg.resources.cpus,
            memory_mb=cfg.resources.memory_mb,
            restart_policy=cfg.restart_policy.value,
            volumes=[VolumeMount(volume_name(project.slug, service.slug, v.name), v.mount_path) for v in cfg.volumes],
            stop_grace_s=self._s.stop_grace_s,
        )

    async def _run(self, project: Project, service: Service, deployment: Deployment, replica: int) -> ContainerState:
        spec = self.spec(project, service, deployment, replica)
        try:
            state = await self._c.runtime.run_container(spec)
        except Error as err:
            if err.code != "conflict":
                raise
            # A leftover with the same name (a crash between create and bookkeeping): replace it.
            await self._c.runtime.remove_container(spec.name)
            state = await self._c.runtime.run_container(spec)
        await self._c.deployments.append_log(deployment.id, f"started replica {replica} as {spec.name}\n")
        await self._record(service, state)
        return state

    async def _retire(
        self, containers: Sequence[ContainerState], *, keep: bool = False, grace_s: float | None = None
    ) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and, unless ``keep``, remove; in parallel."""
        grace = self._s.stop_grace_s if grace_s is None else grace_s

        async def one(x: ContainerState) -> None:
            if x.state in LIVE_STATES and grace > 0:
                await self._c.runtime.stop_container(x.id, grace)
            if not keep:
                await self._c.runtime.remove_container(x.id)
                await self._c.containers.delete_container(x.id)

        await asyncio.gather(*(one(x) for x in containers))

    async def _drain(self, service: Service) -> None:
        if self._c.ingress is None and self._s.drain_requires_ingress:
            return
        if service.drain_s > 0:
            await asyncio.sleep(service.drain_s)

    async def _switch_traffic(self, service: Service, deployment: Deployment, ready: Iterable[ContainerState]) -> None:
        """Point the ingress at ``ready`` in one admin change (before old replicas stop)."""
        ingress = self._c.ingress
        port = deployment.config.port
        if ingress is None or port is None:
            return
        upstreams = sorted(f"{x.ip_address}:{port}" for x in ready if x.ip_address)
        hostnames: list[str] = []
        if self._c.domains is not None:
            hostnames = [d.hostname for d in await self._c.domains.list_domains(service.id)]
        # A domain added or removed changes the route as much as new upstreams do.
        if self.routes.get(service.id) == upstreams and self.route_hostnames.get(service.id) == hostnames:
            return
        await ingress.set_route(Route(service_id=service.id, hostnames=hostnames, upstreams=upstreams))
        self.routes[service.id] = upstreams
        self.route_hostnames[service.id] = hostnames

    async def _fail(self, deployment: Deployment, failed: Failed, replicas: Sequence[ContainerState]) -> None:
        tail = ""
        if failed.container_id is not None:
            try:
                lines = await self._c.logs.tail(failed.container_id, self._s.log_tail_lines)
                tail = "\n".join(line.line for line in lines)
            except Error as err:
                log.warning("no log tail for deployment %s: %s", deployment.short_id, err.message)
        log.info("deployment %s failed: %s", deployment.short_id, failed.reason)
        await self._c.deployments.append_log(deployment.id, f"failed: {failed.reason}\n")
        await self._c.deployments.mark_failed(
            deployment.id, DeploymentFailure(reason=failed.reason, exit_code=failed.exit_code, log_tail=tail or None)
        )

    async def _cancel(self, deployment: Deployment) -> None:
        try:
            await self._c.deployments.mark_cancelled(deployment.id)
        except Error as err:
            if err.code not in {INVALID, NOT_FOUND}:
                raise

    async def _set_status(self, service: Service, status: ServiceStatus) -> None:
        if service.status != status:
            updated = await self._c.services.set_service_status(service.id, status)
            service.status = updated.status

    async def _record(self, service: Service, x: ContainerState) -> None:
        await self._c.containers.upsert_container(
            ContainerRecord(
                id=x.id,
                name=x.name,
                project_id=service.project_id,
                service_id=service.id,
                deployment_id=x.deployment_id or "",
                replica_index=x.replica_index,
                state=x.state,
                exit_code=x.exit_code,
                restart_count=x.restart_count,
                ip_address=x.ip_address,
            )
        )

    async def _sync_records(self, service: Service, current: Sequence[ContainerState]) -> None:
        records = await self._c.containers.list_containers(ContainerFilter(service_id=service.id))
        ids = {x.id for x in current}
        for r in records:
            if r.id not in ids:
                await self._c.containers.delete_container(r.id)
        by_id = {r.id: r for r in records}
        for x in current:
            known = by_id.get(x.id)
            if known is None or (known.state, known.ip_address, known.restart_count, known.exit_code) != (
                x.state,
                x.ip_address,
                x.restart_count,
                x.exit_code,
            ):
                await self._record(service, x)

    # -- deletions --------------------------------------------------------------------------------

    async def teardown_service(self, service_id: str) -> None:
        """A deleted service: its containers, volumes and route go."""
        rt = self._c.runtime
        mine = [x for x in await self._list() if x.service_id == service_id]
        await self._retire(mine)
        for vol in await rt.list_volume_infos():
            if vol.labels.get(LABEL_SERVICE_ID) == service_id and self._s.owns(vol.labels):
                await rt.remove_volume(vol.name)
        await self._drop_route(service_id)
        self._forget(service_id)

    async def reconcile_project(self, project_id: str) -> None:
        """An existing project gets its network; a deleted one loses everything it owned."""
        try:
            project = await self._c.projects.get_project(project_id)
        except Error as err:
            if err.code != NOT_FOUND:
                raise
            await self.teardown_project(project_id)
            return
        await self._c.runtime.ensure_network(project.network_name, self._s.instance_labels(network_labels(project.id)))

    async def teardown_project(self, project_id: str) -> None:
        rt = self._c.runtime
        mine = [x for x in await self._list() if x.project_id == project_id]
        await self._retire(mine)
        for vol in await rt.list_volume_infos():
            if vol.labels.get(LABEL_PROJECT_ID) == project_id and self._s.owns(vol.labels):
                await rt.remove_volume(vol.name)
        for net in await rt.list_networks():
            if net.labels.get(LABEL_PROJECT_ID) == project_id and self._s.owns(net.labels):
                await rt.remove_network(net.name)
        for service_id in {x.service_id for x in mine if x.service_id}:
            await self._drop_route(service_id)
            self._forget(service_id)

    async def _drop_route(self, service_id: str) -> None:
        if self._c.ingress is not None:
            await self._c.ingress.remove_route(service_id)
        self.routes.pop(service_id, None)
        self.route_hostnames.pop(service_id, None)

    def _forget(self, service_id: str) -> None:
        self._wakes.pop(service_id, None)
        self._unwatch(service_id)

    def _unwatch(self, service_id: str) -> None:
        if self.monitor is not None:
            self.monitor.untrack(service_id)

    # -- health -----------------------------------------------------------------------------------

    async def reroute(self, service_id: str) -> None:
        """Point the service's route at its active replicas that are up and not held out by the
        health monitor (which calls this holding the service's lock)."""
        if self._c.ingress is None:
            return
        service = await self._c.services.get_service(service_id)
        active = await self._active(service)
        if active is None or service.stopped:
            return
        now = self._c.clock.now()
        ready = [
            x
            for x in await self._observe(service_id)
            if x.deployment_id == active.id and replica_up(x, now, self._s.crash_window_s) and x.id not in self.held_out
        ]
        await self._switch_traffic(service, active, ready)

    # -- restart ----------------------------------------------------------------------------------

    async def restart_replicas(self, service: Service, *, timeout_s: float) -> None:
        """Restart running replicas one at a time, each back to running before the next."""
        rt = self._c.runtime
        running = sorted(
            (x for x in await self._list() if x.service_id == service.id and x.state == "running"),
            key=lambda x: x.replica_index,
        )
        for x in running:
            await rt.restart_container(x.id, self._s.stop_grace_s)
            deadline = self._c.clock.monotonic() + timeout_s
            while True:
                state = await rt.inspect_container(x.id)
                if state.state == "running" or self._c.clock.monotonic() > deadline:
                    break
                await asyncio.sleep(self._s.readiness_poll_s)


def image_of(deployment: Deployment) -> str:
    """The image to run: the recorded one (built tag for git sources), else the source's."""
    if deployment.image:
        return deployment.image
    source = deployment.config.source
    return source.image if isinstance(source, ImageSource) else ""


def network_labels(project_id: str) -> dict[str, str]:
    return managed_labels(**{LABEL_PROJECT_ID: project_id})


def _mutable(image: str) -> bool:
    if "@" in image:
        return False
    slash, colon = image.rfind("/"), image.rfind(":")
    return colon <= slash or image[colon + 1 :] == "latest"
