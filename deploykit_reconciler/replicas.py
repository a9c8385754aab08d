"""``Replicas``: the containers of a service's deployments.

Observing them (by label, inspected), preparing what they need (network, volumes, image),
starting the missing replica indices, retiring the rest, spotting a crash loop, and keeping the
container records in step with what runs. The converger decides which deployment runs; this
module knows how its containers come and go.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from deploykit.clock import Clock
from deploykit.container import ContainerFilter, ContainerRecord, ContainerService
from deploykit.deployment import Deployment, DeploymentService
from deploykit.errors import CONFLICT, NOT_FOUND, Error
from deploykit.project import Project
from deploykit.runtime import (
    LABEL_PROJECT_ID,
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
from deploykit.service import GitSource, ImageSource, Service
from deploykit_reconciler.settings import ReconcilerSettings
from deploykit_reconciler.status import LIVE_STATES, replica_slots

log = logging.getLogger(__name__)

CRASH_LOOP_WINDOW_S = 60.0
"""Replacements of one replica counted together to spot a crash loop."""


class Replicas:
    def __init__(
        self,
        *,
        runtime: Runtime,
        deployments: DeploymentService,
        containers: ContainerService,
        clock: Clock,
        settings: ReconcilerSettings,
    ) -> None:
        self._runtime = runtime
        self._deployments = deployments
        self._containers = containers
        self._clock = clock
        self._s = settings
        self._replacements: dict[tuple[str, int], list[float]] = {}
        self._killed: set[str] = set()
        self._died: dict[str, float] = {}
        """Containers whose death the engine reported, and when (monotonic); gone at a start."""

    def note_killed(self, container_id: str) -> None:
        """Docker reported a kill (someone's ``docker kill``): its death is not a crash."""
        if len(self._killed) > 10_000:
            self._killed.clear()
        self._killed.add(container_id)

    def note_died(self, container_id: str) -> None:
        """Docker reported the container's death (its ``die`` event)."""
        if len(self._died) > 10_000:
            self._died.clear()
        self._died[container_id] = self._clock.monotonic()

    def note_started(self, container_id: str) -> None:
        """Docker reported a start: a death noted before is over."""
        self._died.pop(container_id, None)

    def forget_deaths(self) -> None:
        """The event stream broke: whether a container started since its death is unknown (the
        resync that follows inspects what runs)."""
        self._died.clear()

    def unconfirmed(self, x: ContainerState) -> bool:
        """The engine reported ``x``'s death (and no start since) in the last crash window, yet
        lists it live: its state has not caught up, and the replica wants another look soon.
        Swarm reports a task's end, and its replacement's restart count and published port, a
        little after Docker's ``die`` event; until then it lists the service's dead task as
        running. Bounded by the window should the ``start`` event have been lost."""
        died = self._died.get(x.id)
        return died is not None and x.state in LIVE_STATES and self._clock.monotonic() - died < self._s.crash_window_s

    async def observe(self, service_id: str, *, killed_as_dead: bool = False) -> list[ContainerState]:
        """The service's containers, inspected (restart counts and start times are not listed).

        With ``killed_as_dead``, a container whose kill and death the engine reported, but which
        is still listed as live, is taken as exited without an inspect: the engine lists a
        container that just died as running, and holds an inspect of it, while it cleans up after
        it (its network above all, 50-150 ms). A repair then creates the replacement meanwhile
        and waits for the clean-up only before starting it (``_run``), which also checks that
        the engine did not start the old one again (a ``docker restart``)."""
        listed = [x for x in await self.managed() if x.service_id == service_id]
        out: list[ContainerState] = []
        for item in listed:
            dying = item.id in self._died and item.id in self._killed
            if killed_as_dead and dying and item.state in LIVE_STATES:
                out.append(dataclasses.replace(item, state="exited", ip_address=None))
                continue
            try:
                out.append(await self._runtime.inspect_container(item.id))
            except Error as err:
                if err.code != NOT_FOUND:
                    raise
        return out

    async def managed(self) -> list[ContainerState]:
        return [x for x in await self._runtime.list_containers() if self._s.owns(x.labels)]

    async def ensure(
        self, project: Project, service: Service, deployment: Deployment, mine: list[ContainerState], *, attempt: bool
    ) -> tuple[list[ContainerState], list[int]]:
        """One live container per replica index of ``deployment``; extras and dead ones go.
        Returns the replicas and, outside rollouts, the indices held back as crash-looping."""
        slots = replica_slots(deployment, mine)
        keep: dict[int, ContainerState] = {}
        doomed: list[ContainerState] = []
        missing: list[int] = []
        crashed: set[int] = set()
        replaced: dict[int, list[ContainerState]] = {}
        """The stopped containers of a missing replica: removed once their replacement started."""
        for i in range(deployment.config.replicas):
            items = slots.pop(i, [])
            first = items[0] if items else None
            if first is not None and first.state in LIVE_STATES and (first.ip_address or first.state == "restarting"):
                keep[i] = first
                doomed.extend(items[1:])
            else:
                doomed.extend(x for x in items if x.state in LIVE_STATES)
                replaced[i] = [x for x in items if x.state not in LIVE_STATES]
                missing.append(i)
                # Exited on its own (not killed or removed by someone): that counts towards a loop.
                if items and not any(x.id in self._killed for x in items):
                    crashed.add(i)
                for x in items:
                    self._killed.discard(x.id)
        for rest in slots.values():
            doomed.extend(rest)
        await self.retire(doomed, grace_s=0.0)
        looping: list[int] = []
        if missing:
            if not attempt:
                looping = [i for i in missing if len(self.recent(deployment.id, i)) >= self._s.bad_observations]
                missing = [i for i in missing if i not in looping]
                for i in looping:
                    log.warning("service %s replica %d keeps exiting; backing off", service.name, i)
            if missing:
                await self.prepare(project, service, deployment, pull=False)
                runs = (self._run(project, service, deployment, i, replaced[i]) for i in missing)
                started = await asyncio.gather(*runs)
                for i, state in zip(missing, started, strict=True):
                    keep[i] = state
                    if any(x.id == state.id for x in replaced[i]):
                        continue  # taken for dead, but running again (see _run): nothing was started
                    if not attempt and i in crashed:
                        self._replacements.setdefault((deployment.id, i), []).append(self._clock.monotonic())
                if attempt:
                    await self._deployments.record_attempt(deployment.id)
        return [keep[i] for i in sorted(keep)], looping

    def recent(self, deployment_id: str, index: int) -> list[float]:
        horizon = self._clock.monotonic() - CRASH_LOOP_WINDOW_S
        times = [t for t in self._replacements.get((deployment_id, index), []) if t >= horizon]
        self._replacements[(deployment_id, index)] = times
        return times

    async def prepare(self, project: Project, service: Service, deployment: Deployment, *, pull: bool) -> None:
        rt = self._runtime
        await rt.ensure_network(project.network_name, self._s.instance_labels(network_labels(project.id)))
        for vol in deployment.config.volumes:
            await rt.ensure_volume(
                volume_name(project.slug, service.slug, vol.name, service.volume_names),
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
            volumes=[
                VolumeMount(volume_name(project.slug, service.slug, v.name, service.volume_names), v.mount_path)
                for v in cfg.volumes
            ],
            stop_grace_s=self._s.stop_grace_s,
        )

    async def _run(
        self, project: Project, service: Service, deployment: Deployment, replica: int, replaced: list[ContainerState]
    ) -> ContainerState:
        """Start the replica; the stopped containers it replaces go once it started. Until then they
        stay: an engine that is shutting down stops every container and refuses the replacement,
        and restarts the old ones (their restart policy) when it is back. Should one of them run
        again by the time the replacement would start (``observe`` took a killed one for dead
        before the engine said so, and it was restarted), the replacement goes and that one is
        returned instead."""
        spec = self.spec(project, service, deployment, replica)
        taken = {x.name for x in replaced}
        generation = 1
        while spec.name in taken:
            generation += 1
            name = container_name(project.slug, service.slug, replica, deployment.id, generation)
            spec = dataclasses.replace(spec, name=name)

        revived: list[ContainerState] = []

        async def settled() -> None:
            # A container that just died is still being cleaned up by the engine (its network above
            # all); a start beside that is no sooner up than one after it. Inspecting waits for it.
            for x in replaced:
                try:
                    now = await self._runtime.inspect_container(x.id)
                except Error:
                    continue
                if now.state in LIVE_STATES:
                    revived.append(now)
                    raise Error(CONFLICT, f"Container {now.name} runs again.")

        try:
            state = await self._runtime.run_container(spec, before_start=settled if replaced else None)
        except Error as err:
            if revived:  # the created replacement is gone again (run_container removes it)
                return revived[0]
            if err.code != "conflict":
                raise
            # A leftover with the same name (a crash between create and bookkeeping): replace it.
            await self._runtime.remove_container(spec.name)
            state = await self._runtime.run_container(spec)
        await self._deployments.append_log(deployment.id, f"started replica {replica} as {spec.name}\n")
        await self._record(service, state)
        await self.retire(replaced, grace_s=0.0)
        return state

    async def retire(
        self, containers: Sequence[ContainerState], *, keep: bool = False, grace_s: float | None = None
    ) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and, unless ``keep``, remove; in parallel."""
        grace = self._s.stop_grace_s if grace_s is None else grace_s

        async def one(x: ContainerState) -> None:
            if x.state in LIVE_STATES and grace > 0:
                await self._runtime.stop_container(x.id, grace)
            if not keep:
                await self._runtime.remove_container(x.id)
                await self._containers.delete_container(x.id)

        await asyncio.gather(*(one(x) for x in containers))

    async def _record(self, service: Service, x: ContainerState) -> None:
        await self._containers.upsert_container(
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

    async def sync_records(self, service: Service, current: Sequence[ContainerState]) -> None:
        records = await self._containers.list_containers(ContainerFilter(service_id=service.id))
        ids = {x.id for x in current}
        for r in records:
            if r.id not in ids:
                await self._containers.delete_container(r.id)
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

    async def restart_one_by_one(self, service: Service, *, timeout_s: float) -> None:
        """Restart running replicas one at a time, each back to running before the next."""
        rt = self._runtime
        running = sorted(
            (x for x in await self.managed() if x.service_id == service.id and x.state == "running"),
            key=lambda x: x.replica_index,
        )
        for x in running:
            await rt.restart_container(x.id, self._s.stop_grace_s)
            deadline = self._clock.monotonic() + timeout_s
            while True:
                state = await rt.inspect_container(x.id)
                if state.state == "running" or self._clock.monotonic() > deadline:
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
