"""``Reconciler``: the supervised control loop.

Three kinds of wake-up feed one keyed work queue (``service:<id>``, ``project:<id>``):

- store events (deployment created, service created, updated, deleted, stopped or started, a
  custom domain added or removed, project created or deleted): that service or project, at once.
  Every change a user makes reaches the loop only this way (the HTTP handlers never call it), one
  key per affected service; ``trigger_service`` is for the loop's own parts (a finished build);
- Docker events (die, destroy, oom, health_status) of managed containers: the container's service;
- a full resync every ``interval_s`` (or on ``trigger()``): one container list and one network
  list, compared with the store in bulk; only services that are not in steady state get queued.

Beside the queue runs the ``HealthMonitor`` (``health.py``): it keeps probing the replicas of
healthy deployments that have a health check, learning which ones from the converger and every
resync, and holds failing replicas out of the route while it restarts them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from deploykit.build import BuildScheduler, DeployKeyService
from deploykit.bus import Event, EventBus, EventType, Subscription
from deploykit.clock import Clock, SystemClock, wait_event
from deploykit.container import ContainerFilter, ContainerRecord, ContainerService
from deploykit.deployment import IN_FLIGHT, Deployment, DeploymentFilter, DeploymentService, DeploymentStatus
from deploykit.errors import NOT_FOUND, Error, error_message
from deploykit.health import HealthProbe, HealthRecordService, ReplicaHealth
from deploykit.ingress import DomainService, Ingress
from deploykit.logs import LogStreamer
from deploykit.project import Project, ProjectFilter, ProjectService
from deploykit.runtime import LABEL_PROJECT_ID, LABEL_SERVICE_ID, ContainerState, Runtime
from deploykit.service import Service, ServiceFilter, ServiceService
from deploykit_reconciler.builds import BuildDriver
from deploykit_reconciler.converge import Collaborators, Converger
from deploykit_reconciler.health import HealthMonitor
from deploykit_reconciler.queue import Backoff, WorkQueue
from deploykit_reconciler.routes import RouteTable
from deploykit_reconciler.settings import ReconcilerSettings
from deploykit_reconciler.status import ServiceView, steady

log = logging.getLogger(__name__)

WAKE_ACTIONS = frozenset({"die", "destroy", "oom", "health_status", "stop"})
NETWORK_ACTIONS = frozenset({"network_disconnect", "network_destroy"})
STORE_EVENTS = frozenset(
    {
        EventType.DEPLOYMENT_CREATED,
        EventType.SERVICE_CREATED,
        EventType.SERVICE_UPDATED,
        EventType.SERVICE_DELETED,
        EventType.SERVICE_STOPPED,
        EventType.SERVICE_STARTED,
        EventType.DOMAIN_ADDED,
        EventType.DOMAIN_REMOVED,
        EventType.PROJECT_CREATED,
        EventType.PROJECT_DELETED,
    }
)
PAGE = 1000


@dataclass
class ResyncReport:
    """What one full resync saw and queued."""

    services: int = 0
    containers: int = 0
    queued: list[str] = field(default_factory=list)


class Reconciler:
    """Implements the domain ``Reconciler`` and ``HealthMonitor`` Protocols, plus ``start()``/``stop()``.

    Construction does no I/O. ``bus`` (store events; health changes are published on it),
    ``ingress`` and ``domains`` (traffic switch), ``builds`` and ``deploy_keys`` (git sources;
    without them git deployments wait) and ``health`` (where probe results are kept; without it
    they are not stored, but failing replicas are still held out and restarted) are optional."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        logs: LogStreamer,
        probe: HealthProbe,
        projects: ProjectService,
        services: ServiceService,
        deployments: DeploymentService,
        containers: ContainerService,
        bus: EventBus | None = None,
        ingress: Ingress | None = None,
        domains: DomainService | None = None,
        builds: BuildScheduler | None = None,
        deploy_keys: DeployKeyService | None = None,
        health: HealthRecordService | None = None,
        clock: Clock | None = None,
        settings: ReconcilerSettings | None = None,
    ) -> None:
        self.settings = settings or ReconcilerSettings()
        self._c = Collaborators(
            runtime=runtime,
            logs=logs,
            probe=probe,
            projects=projects,
            services=services,
            deployments=deployments,
            containers=containers,
            clock=clock or SystemClock(),
        )
        self._bus = bus
        self.routes = RouteTable(ingress=ingress, domains=domains)
        """The services' routes and the replicas held out of them: the converger and the health
        monitor both route through it."""
        self.converger = Converger(self._c, self.settings, routes=self.routes)
        self.converger.on_crash_loop = self._crash_loop
        if builds is not None:
            self.converger.builds = BuildDriver(
                builds=builds,
                deployments=deployments,
                deploy_keys=deploy_keys,
                on_done=self.trigger_service,
                retry_s=self.settings.backoff_max_s,
                instance_id=self.settings.instance_id,
            )
        self.queue = WorkQueue(
            self._handle,
            workers=self.settings.workers,
            backoff=Backoff(self.settings.backoff_min_s, self.settings.backoff_max_s),
        )
        self.monitor = HealthMonitor(
            runtime=runtime,
            probe=probe,
            deployments=deployments,
            clock=self._c.clock,
            settings=self.settings,
            reroute=self.converger.reroute,
            lock=lambda service_id: self.queue.lock(f"service:{service_id}"),
            routes=self.routes,
            records=health,
            bus=bus,
        )
        self.converger.monitor = self.monitor
        self._resync_wanted = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None
        self.resyncs = 0

    # -- the domain Protocol ----------------------------------------------------------------------

    def trigger(self) -> None:
        self._resync_wanted.set()

    def trigger_service(self, service_id: str) -> None:
        self.queue.add(f"service:{service_id}", force=True)

    async def restart_service(self, service_id: str) -> None:
        service = await self._c.services.get_service(service_id)
        key = f"service:{service_id}"
        async with self.queue.lock(key):
            await self.converger.replicas.restart_one_by_one(service, timeout_s=self.settings.readiness_timeout_s)
        self.queue.add(key, force=True)
        if self._bus is not None:  # for the audit log: the request's actor is stamped on by the bus
            self._bus.publish(
                Event(
                    EventType.SERVICE_RESTARTED,
                    service.project_id,
                    service.id,
                    payload={"name": service.name},
                    at=self._c.clock.now(),
                )
            )

    def _crash_loop(self, deployment: Deployment, replica_index: int, restarts: int) -> None:
        log.warning(
            "service %s replica %d of deployment %s is crash-looping (%d restarts)",
            deployment.service_id,
            replica_index,
            deployment.short_id,
            restarts,
        )
        if self._bus is not None:
            self._bus.publish(
                Event(
                    EventType.SERVICE_CRASH_LOOP,
                    deployment.project_id,
                    deployment.service_id,
                    payload={"deployment_id": deployment.id, "replica_index": replica_index, "restarts": restarts},
                    at=self._c.clock.now(),
                )
            )

    # -- the domain HealthMonitor Protocol --------------------------------------------------------

    def health_state(self, service_id: str) -> list[ReplicaHealth]:
        """The health of the service's watched replicas, by replica index (empty: not watched)."""
        return self.monitor.health_state(service_id)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping.clear()
        self.queue.start()
        if self._bus is not None:
            self._subscription = self._bus.subscribe(STORE_EVENTS)
            self._tasks.append(asyncio.create_task(self._follow_store(self._subscription), name="reconcile-store"))
        self._tasks.append(asyncio.create_task(self._follow_docker(), name="reconcile-docker-events"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name="reconcile-resync"))
        self.monitor.start()

    async def stop(self) -> None:
        """Stop listening, let running work finish for ``shutdown_timeout_s``, cancel the rest."""
        self._stopping.set()
        await self.monitor.stop()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.queue.stop(self.settings.shutdown_timeout_s)
        if self.converger.builds is not None:
            # A cancelled build stays "building"; the next start builds it again.
            await self.converger.builds.stop()

    async def wait_idle(self) -> None:
        """Until no work is queued or running (tests and benchmarks)."""
        await self.queue.wait_idle()

    # -- work -------------------------------------------------------------------------------------

    async def _handle(self, key: str) -> float | None:
        kind, _, ident = key.partition(":")
        if kind == "service":
            return await self.converger.reconcile_service(ident)
        if kind == "project":
            await self.converger.reconcile_project(ident)
            return None
        log.error("unknown work key %r", key)
        return None

    async def _resync_loop(self) -> None:
        failures = 0
        first = True
        while not self._stopping.is_set():
            self._resync_wanted.clear()
            try:
                await self.resync(sweep_volumes=first)
                failures, first = 0, False
                timeout = self.settings.interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                retry = Backoff(self.settings.backoff_min_s, self.settings.resync_retry_max_s)
                timeout = min(self.settings.interval_s, retry.delay(failures))
                log.warning("resync failed (%s); next in %.1f s", error_message(exc), timeout)
            await wait_event(self._resync_wanted, timeout)

    async def resync(self, *, sweep_volumes: bool = False) -> ResyncReport:
        """One full pass: list what runs, compare with the store, queue what differs."""
        c = self._c
        owns = self.settings.owns
        containers = [x for x in await c.runtime.list_containers() if owns(x.labels)]
        all_networks = await c.runtime.list_networks()
        networks = [n for n in all_networks if owns(n.labels)]
        projects = await self._all_projects()
        services = await self._all_services()
        in_flight = await self._all_deployments(IN_FLIGHT)
        healthy = {d.id: d for d in await self._all_deployments(frozenset({DeploymentStatus.HEALTHY}))}
        records = await c.containers.list_containers(ContainerFilter())
        self.resyncs += 1
        report = ResyncReport(services=len(services), containers=len(containers))

        by_service: dict[str, list[ContainerState]] = defaultdict(list)
        for x in containers:
            by_service[x.service_id or ""].append(x)
        flights: dict[str, list[Deployment]] = defaultdict(list)
        for d in in_flight:
            flights[d.service_id].append(d)
        recs: dict[str, list[ContainerRecord]] = defaultdict(list)
        for r in records:
            recs[r.service_id].append(r)
        with_ingress = self.routes.enabled

        def queue(key: str) -> None:
            report.queued.append(key)
            self.queue.add(key)

        for s in services:
            view = ServiceView(
                service=s,
                containers=by_service.get(s.id, []),
                in_flight=flights.get(s.id, []),
                active=healthy.get(s.active_deployment_id or ""),
                records=recs.get(s.id, []),
                route=self.routes.upstreams(s.id),
                held_out=self.routes.held_out,
            )
            if s.active_deployment_id and view.active is None:
                view.active = await self._deployment(s.active_deployment_id)
            if view.active is not None and not s.stopped:
                self.monitor.track(view.active, view.containers)
            else:
                self.monitor.untrack(s.id)
            if not steady(view, with_ingress=with_ingress):
                queue(f"service:{s.id}")
        known_services = {s.id for s in services}
        self.monitor.retain(known_services)
        known_projects = {p.id for p in projects}
        for sid in by_service:
            if sid and sid not in known_services:
                queue(f"service:{sid}")
        orphan_projects = {x.project_id for x in containers if x.project_id and x.project_id not in known_projects}
        orphan_projects |= {
            n.labels[LABEL_PROJECT_ID]
            for n in networks
            if n.labels.get(LABEL_PROJECT_ID) and n.labels[LABEL_PROJECT_ID] not in known_projects
        }
        # Any managed network of the right name will do (the API may have created it).
        present = {n.name for n in all_networks}
        missing_networks = {p.id for p in projects if p.network_name not in present}
        for pid in sorted(orphan_projects | missing_networks):
            queue(f"project:{pid}")
        if sweep_volumes:
            for vol in await c.runtime.list_volume_infos():
                owner = vol.labels.get(LABEL_SERVICE_ID)
                if owner and owner not in known_services and owns(vol.labels):
                    queue(f"service:{owner}")
        return report

    async def _deployment(self, id: str) -> Deployment | None:
        try:
            return await self._c.deployments.get_deployment(id)
        except Error as err:
            if err.code == NOT_FOUND:
                return None
            raise

    async def _all_projects(self) -> list[Project]:
        out: list[Project] = []
        while True:
            page, total = await self._c.projects.list_projects(ProjectFilter(offset=len(out), limit=PAGE))
            out.extend(page)
            if not page or len(out) >= total:
                return out

    async def _all_services(self) -> list[Service]:
        out: list[Service] = []
        while True:
            page, total = await self._c.services.list_services(
                ServiceFilter(include_previews=True, offset=len(out), limit=PAGE)
            )
            out.extend(page)
            if not page or len(out) >= total:
                return out

    async def _all_deployments(self, statuses: frozenset[DeploymentStatus]) -> list[Deployment]:
        out: list[Deployment] = []
        while True:
            page, total = await self._c.deployments.list_deployments(
                DeploymentFilter(statuses=statuses, offset=len(out), limit=PAGE)
            )
            out.extend(page)
            if not page or len(out) >= total:
                return out

    # -- listeners --------------------------------------------------------------------------------

    async def _follow_store(self, subscription: Subscription) -> None:
        dropped = 0
        async for event in subscription:
            if event.type in (EventType.PROJECT_CREATED, EventType.PROJECT_DELETED) and event.project_id:
                self.queue.add(f"project:{event.project_id}", force=True)
            elif event.service_id:
                self.queue.add(f"service:{event.service_id}", force=True)
            if subscription.dropped > dropped:
                # We lost events: only a full resync knows the truth.
                dropped = subscription.dropped
                self.trigger()

    async def _follow_docker(self) -> None:
        failures = 0
        died: collections.deque[str] = collections.deque(maxlen=256)
        retry = Backoff(self.settings.events_retry_s, self.settings.engine_retry_max_s)
        while not self._stopping.is_set():
            if failures:
                if not await self._c.runtime.ping():
                    failures += 1
                    await self._pause(retry.delay(failures))
                    continue
                # The engine answers again: events were missed, and work that failed on the dead
                # engine waits for its backoff. Look at everything now.
                log.info("Docker engine reachable again; resyncing")
                # A start may have gone unreported meanwhile: deaths noted before are no guide.
                self.converger.replicas.forget_deaths()
                self.queue.retry_now()
                self.trigger()
            try:
                async for event in self._c.runtime.events():
                    failures = 0
                    if event.action == "kill":
                        self.converger.replicas.note_killed(event.container_id)
                    if event.action == "die":
                        died.append(event.container_id)
                        self.converger.replicas.note_died(event.container_id)
                    if event.action == "start":
                        self.converger.replicas.note_started(event.container_id)
                    if event.action in NETWORK_ACTIONS:
                        if event.action == "network_disconnect" and event.container_id in died:
                            continue  # the engine's clean-up of a container whose death woke its service
                        # A project network lost a container or vanished: look at everything.
                        self.trigger()
                        continue
                    sid = event.labels.get(LABEL_SERVICE_ID)
                    if sid and event.action in WAKE_ACTIONS and self.settings.owns(event.labels):
                        self.converger.wake(sid)
                        self.queue.add(f"service:{sid}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Docker events stopped (%s); resubscribing", error_message(exc))
            failures += 1
            await self._pause(retry.delay(failures))

    async def _pause(self, seconds: float) -> None:
        """Wait, unless the reconciler is stopping."""
        await wait_event(self._stopping, seconds)
