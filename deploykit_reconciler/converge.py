"""Converging one service (or one deleted project) towards what the store wants.

Desired state is the service's newest in-flight deployment (rolled out through the readiness
gate) or else its active healthy deployment (kept running). Actual state is every managed
container carrying the service's label. Everything here is idempotent: a daemon that restarts
half-way through a rollout finds the same labels and carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deploykit.clock import Clock
from deploykit.container import ContainerService
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
from deploykit.logs import LogStreamer
from deploykit.project import Project, ProjectFilter, ProjectService
from deploykit.runtime import (
    LABEL_PROJECT_ID,
    LABEL_SERVICE_ID,
    ContainerState,
    Runtime,
    built_images,
    image_repository,
    managed_labels,
)
from deploykit.service import GitSource, Service, ServiceFilter, ServiceService, ServiceStatus
from deploykit_reconciler.builds import BuildDriver
from deploykit_reconciler.health import HealthMonitor
from deploykit_reconciler.readiness import Cancelled, Failed, ReadinessGate, Ready
from deploykit_reconciler.replicas import Replicas, image_of, network_labels
from deploykit_reconciler.routes import RouteTable
from deploykit_reconciler.settings import ReconcilerSettings
from deploykit_reconciler.status import LIVE_STATES, replica_up, serving_status

log = logging.getLogger(__name__)

PAGE = 1000


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


class Converger:
    def __init__(self, c: Collaborators, settings: ReconcilerSettings, *, routes: RouteTable) -> None:
        self._c = c
        self._s = settings
        self.gate = ReadinessGate(
            runtime=c.runtime, probe=c.probe, deployments=c.deployments, clock=c.clock, settings=settings
        )
        self.routes = routes
        """Shared with the health monitor, which holds failing replicas out of the route."""
        self.replicas = Replicas(
            runtime=c.runtime, deployments=c.deployments, containers=c.containers, clock=c.clock, settings=settings
        )
        self._wakes: dict[str, asyncio.Event] = {}
        self.builds: BuildDriver | None = None
        """Set by the Reconciler when a build scheduler is wired; git deployments wait otherwise."""
        self.monitor: HealthMonitor | None = None
        """Set by the Reconciler: told which replicas of a healthy deployment serve."""
        self.on_crash_loop: Callable[[Deployment, int, int], None] | None = None
        """Set by the Reconciler: told once per replica of a deployment that starts crash-looping
        (deployment, replica index, recent restarts)."""
        self._crash_loops: set[tuple[str, int]] = set()

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
        in_flight, _ = await c.deployments.list_deployments(
            DeploymentFilter(service_id=service_id, statuses=IN_FLIGHT, limit=100)
        )
        active = await self._active(service)
        # Keeping a deployment running: a killed replica is replaced without waiting for the
        # engine's clean-up of it first (the replacement is created meanwhile; see observe).
        repairing = not service.stopped and not in_flight and active is not None
        actual = await self.replicas.observe(service_id, killed_as_dead=repairing)
        if service.stopped:
            self._unwatch(service_id)
            await self.replicas.retire([x for x in actual if x.state in LIVE_STATES], keep=True)
            await self.replicas.sync_records(service, await self.replicas.observe(service_id))
            await self._set_status(service, ServiceStatus.STOPPED)
            return None
        if in_flight:
            for older in in_flight[1:]:
                await self._cancel(older)
            return await self._roll_out(project, service, in_flight[0], active, actual)
        if active is None:
            self._unwatch(service_id)
            await self.replicas.retire(actual)
            await self.replicas.sync_records(service, [])
            if service.status not in {ServiceStatus.CREATED, ServiceStatus.FAILED}:
                failed, _ = await c.deployments.list_deployments(DeploymentFilter(service_id=service_id, limit=1))
                last_failed = bool(failed) and failed[0].status == DeploymentStatus.FAILED
                await self._set_status(service, ServiceStatus.FAILED if last_failed else ServiceStatus.CREATED)
            return None
        return await self._maintain(project, service, active, actual)

    async def _credentials_of(self, service: Service, target: Deployment) -> str:
        """Whose deploy key and known hosts clone ``target``: a preview's are its previewed
        service's when it builds from that service's repository; a fork's preview (another
        repository) is never offered them."""
        if service.preview_of is None:
            return service.id
        try:
            previewed = await self._c.services.get_service(service.preview_of)
        except Error as err:
            if err.code != NOT_FOUND:
                raise
            return service.id
        mine, theirs = target.config.source, previewed.config.source
        if isinstance(mine, GitSource) and isinstance(theirs, GitSource) and mine.repo_url == theirs.repo_url:
            return previewed.id
        return service.id

    async def _active(self, service: Service) -> Deployment | None:
        if service.active_deployment_id is None:
            return None
        try:
            return await self._c.deployments.get_deployment(service.active_deployment_id)
        except Error as err:
            if err.code == NOT_FOUND:
                return None
            raise

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
                    owner = await self._credentials_of(service, target)
                    await self.builds.ensure(project, service, target, credentials_of=owner)
                return None
            target = await c.deployments.mark_starting(target.id, image=image_of(target))
        await self._set_status(service, ServiceStatus.DEPLOYING)
        try:
            pull = self._s.pull_mutable_tags and _mutable(image_of(target))
            await self.replicas.prepare(project, service, target, pull=pull)
        except Error as err:
            if self.builds is not None and (self.builds.building(target.id) or await self._rebuild_wanted(target)):
                # Already starting (the image went after that): rebuilt without going back to building.
                owner = await self._credentials_of(service, target)
                await self.builds.ensure(project, service, target, credentials_of=owner)
                return None
            if err.code == NOT_FOUND or (err.code in {UNAVAILABLE, INVALID} and await c.runtime.ping()):
                await self._fail(target, Failed(reason=err.message), [])
                return await self._after_failure(project, service, active)
            raise
        others = [x for x in actual if x.deployment_id != target.id]
        mine = [x for x in actual if x.deployment_id == target.id]
        if target.config.rolls_stop_first and others:
            await c.deployments.append_log(target.id, "stopping the previous replicas first (volumes)\n")
            await self.replicas.retire(others)
            others = []
        replicas, _ = await self.replicas.ensure(project, service, target, mine, attempt=True)
        wake = self._wakes.setdefault(service.id, asyncio.Event())
        try:
            outcome = await self.gate.wait(target, replicas, wake)
        finally:
            self._wakes.pop(service.id, None)
        if isinstance(outcome, Cancelled):
            return 0.0
        if isinstance(outcome, Failed):
            await self._fail(target, outcome, replicas)
            await self.replicas.retire(replicas)
            return await self._after_failure(project, service, active)
        assert isinstance(outcome, Ready)
        await self.routes.point(target, outcome.containers)
        # The log's last line before the status: a live log (SSE) ends at the healthy event.
        await c.deployments.append_log(target.id, f"healthy: {len(outcome.containers)} replica(s) ready\n")
        healthy = await c.deployments.mark_healthy(target.id)
        if self.monitor is not None:
            self.monitor.track(healthy, outcome.containers)
        if others:
            # The new deployment serves: the old replicas finish their requests, then stop.
            await self._set_status(service, ServiceStatus.DRAINING)
            await self._drain(service)
            await self.replicas.retire(others)
        await self.replicas.sync_records(service, outcome.containers)
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
            return await self._maintain(project, fresh, active, await self.replicas.observe(service.id))
        await self.replicas.sync_records(fresh, await self.replicas.observe(service.id))
        await self._set_status(fresh, ServiceStatus.FAILED)
        return None

    async def _maintain(
        self, project: Project, service: Service, active: Deployment, actual: list[ContainerState]
    ) -> float | None:
        """Keep the active deployment's replicas running; remove everything else."""
        await self.replicas.retire([x for x in actual if x.deployment_id != active.id])
        mine = [x for x in actual if x.deployment_id == active.id]
        replicas, held_back = await self.replicas.ensure(project, service, active, mine, attempt=False)
        now = self._c.clock.now()
        up = [x for x in replicas if replica_up(x, now, self._s.crash_window_s)]
        if self.monitor is not None:
            self.monitor.track(active, replicas)
        await self.routes.point(active, self.routes.routable(up))
        await self.replicas.sync_records(service, replicas)
        await self._set_status(service, serving_status(len(up), active.config.replicas))
        troubled = [x.replica_index for x in replicas if x not in up] + held_back
        # A replica the engine said died but still lists as running: look again shortly.
        recheck = self._s.readiness_poll_s if any(self.replicas.unconfirmed(x) for x in replicas) else None
        if not troubled:
            return recheck
        # Look again once a fresh restart has had time to prove itself; back off a crash loop.
        loops = max(len(self.replicas.recent(active.id, i)) for i in troubled)
        self._announce_crash_loops(active, replicas, troubled)
        delay = self._s.crash_window_s * 2 ** max(0, loops - self._s.bad_observations)
        return float(min(self._s.backoff_max_s, delay, recheck or delay))

    def _announce_crash_loops(
        self, active: Deployment, replicas: Sequence[ContainerState], troubled: list[int]
    ) -> None:
        """A replica crash-loops when it was replaced ``bad_observations`` times in the window
        (then ``Replicas.ensure`` holds it back) or its restart policy restarted it as often.
        Announced once per replica of a deployment."""
        if self.on_crash_loop is None:
            return
        docker_restarts = {x.replica_index: x.restart_count for x in replicas}
        for index in troubled:
            restarts = max(len(self.replicas.recent(active.id, index)), docker_restarts.get(index, 0))
            if restarts >= self._s.bad_observations and (active.id, index) not in self._crash_loops:
                self._crash_loops.add((active.id, index))
                self.on_crash_loop(active, index, restarts)

    async def _drain(self, service: Service) -> None:
        if not self.routes.enabled and self._s.drain_requires_ingress:
            return
        if service.drain_s > 0:
            await asyncio.sleep(service.drain_s)

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

    # -- deletions --------------------------------------------------------------------------------

    async def teardown_service(self, service_id: str) -> None:
        """A deleted service (or a closed pull request's preview): its containers, volumes, built
        images and route go. A build still running for it is stopped first, so that it does
        not tag an image after the images were removed."""
        rt = self._c.runtime
        if self.builds is not None and await self.builds.cancel_service(service_id):
            log.info("stopped the build of deleted service %s", service_id[:8])
        mine = [x for x in await self.replicas.managed() if x.service_id == service_id]
        await self.replicas.retire(mine)
        for vol in await rt.list_volume_infos():
            if vol.labels.get(LABEL_SERVICE_ID) == service_id and self._s.owns(vol.labels):
                await rt.remove_volume(vol.name)
        await rt.remove_images(self._s.instance_labels(managed_labels(**{LABEL_SERVICE_ID: service_id})))
        await self.remove_stale_images()
        await self.routes.remove(service_id)
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
        mine = [x for x in await self.replicas.managed() if x.project_id == project_id]
        await self.replicas.retire(mine)
        for vol in await rt.list_volume_infos():
            if vol.labels.get(LABEL_PROJECT_ID) == project_id and self._s.owns(vol.labels):
                await rt.remove_volume(vol.name)
        for net in await rt.list_networks():
            if net.labels.get(LABEL_PROJECT_ID) == project_id and self._s.owns(net.labels):
                await rt.remove_network(net.name)
        # Its images built by earlier versions, found by their labels; then every built image of
        # a service that no longer exists, found by its name.
        removed = await rt.remove_images(self._s.instance_labels(managed_labels(**{LABEL_PROJECT_ID: project_id})))
        removed += await self.remove_stale_images()
        if removed:
            log.info("removed %d image(s) of deleted project %s", len(removed), project_id)
        for service_id in {x.service_id for x in mine if x.service_id}:
            await self.routes.remove(service_id)
            self._forget(service_id)

    async def remove_stale_images(self) -> list[str]:
        """Remove this installation's built images (named ``deploykit/[<instance>/]<project>_<service>``)
        of services that no longer exist. Listed before the services: an image can only be built
        for a service that exists, so one created meanwhile is never taken."""
        instance = self._s.instance_id
        projects: dict[str, str] = {}
        while True:
            page, total = await self._c.projects.list_projects(ProjectFilter(offset=len(projects), limit=PAGE))
            projects.update((p.id, p.slug) for p in page)
            if not page or len(projects) >= total:
                break
        services: list[Service] = []
        while True:
            filt = ServiceFilter(include_previews=True, offset=len(services), limit=PAGE)
            page_s, total = await self._c.services.list_services(filt)
            services.extend(page_s)
            if not page_s or len(services) >= total:
                break
        keep = {
            image_repository(projects[x.project_id], x.slug, instance) for x in services if x.project_id in projects
        }
        return await self._c.runtime.remove_images({}, reference=built_images(instance), keep=keep)

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
        if not self.routes.enabled:
            return
        service = await self._c.services.get_service(service_id)
        active = await self._active(service)
        if active is None or service.stopped:
            return
        now = self._c.clock.now()
        up = [
            x
            for x in await self.replicas.observe(service_id)
            if x.deployment_id == active.id and replica_up(x, now, self._s.crash_window_s)
        ]
        await self.routes.point(active, self.routes.routable(up))


def _mutable(image: str) -> bool:
    if "@" in image:
        return False
    slash, colon = image.rfind("/"), image.rfind(":")
    return colon <= slash or image[colon + 1 :] == "latest"
