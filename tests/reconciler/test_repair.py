"""A killed replica's repair (``Replicas.observe``/``ensure`` without an engine): the engine lists a
container that just died as running and holds an inspect of it while it cleans up after it, so a
replica whose kill and death were reported is taken for dead as listed, its replacement is created
meanwhile and started once that inspect answers; unless the old one runs again by then."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from deploykit.deployment import DeploymentStatus
from deploykit.project import Project
from deploykit.runtime import ContainerSpec, ContainerState
from deploykit.service import ImageSource, Service, ServiceConfig
from deploykit_reconciler.replicas import Replicas
from deploykit_reconciler.settings import ReconcilerSettings
from tests.reconciler.fakes import ManualClock, container, deployment


class Engine:
    """Lists ``listed``; an inspect of the old container waits for ``cleaned_up`` and answers
    ``after``; records creates, starts and removals in ``calls``."""

    def __init__(self, old: ContainerState, after: ContainerState) -> None:
        self.listed = [old]
        self.old, self.after = old, after
        self.cleaned_up = asyncio.Event()
        self.inspecting = asyncio.Event()
        self.calls: list[str] = []

    async def list_containers(self) -> list[ContainerState]:
        return list(self.listed)

    async def inspect_container(self, id: str) -> ContainerState:
        if id == self.old.id:
            self.calls.append("inspect old")
            self.inspecting.set()
            await self.cleaned_up.wait()
            return self.after
        return container(id, ip="10.0.0.9")

    async def run_container(self, spec: ContainerSpec, *, before_start: Any = None) -> ContainerState:
        self.calls.append(f"create {spec.name}")
        try:
            if before_start is not None:
                await before_start()
        except Exception:
            self.calls.append(f"remove {spec.name}")
            raise
        self.calls.append(f"start {spec.name}")
        return dataclasses.replace(container("new", ip="10.0.0.9"), name=spec.name)

    async def remove_container(self, id: str) -> None:
        self.calls.append(f"remove {id}")

    async def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        pass

    async def ensure_image(self, ref: str, *, pull: bool = False) -> None:
        pass


class Store:
    async def append_log(self, deployment_id: str, text: str) -> None:
        pass

    async def upsert_container(self, record: Any) -> None:
        pass

    async def delete_container(self, id: str) -> None:
        pass


def replicas_on(engine: Engine, clock: ManualClock | None = None) -> Replicas:
    return Replicas(
        runtime=engine,  # type: ignore[arg-type]
        deployments=Store(),  # type: ignore[arg-type]
        containers=Store(),  # type: ignore[arg-type]
        clock=clock or ManualClock(),
        settings=ReconcilerSettings(),
    )


async def repair(engine: Engine, replicas: Replicas) -> list[ContainerState]:
    active = deployment(status=DeploymentStatus.HEALTHY)
    project = Project(id="p1", name="P", slug="p")
    service = Service(id="s1", project_id="p1", name="s", slug="s", config=ServiceConfig(source=ImageSource("img:1")))
    actual = await replicas.observe("s1", killed_as_dead=True)
    task = asyncio.create_task(replicas.ensure(project, service, active, actual, attempt=False))
    # The replacement is created while the engine still cleans up after the old one.
    await asyncio.wait_for(engine.inspecting.wait(), 10)
    assert engine.calls[0].startswith("create ")
    assert engine.calls[-1] == "inspect old"
    engine.cleaned_up.set()
    kept, _ = await task
    return kept


async def test_a_killed_replica_is_replaced_without_waiting_for_its_clean_up_first() -> None:
    old = container("old")
    engine = Engine(old, after=dataclasses.replace(old, state="exited", ip_address=None))
    replicas = replicas_on(engine)
    replicas.note_killed("old")
    replicas.note_died("old")

    kept = await repair(engine, replicas)

    name = engine.calls[0].removeprefix("create ")
    assert engine.calls == [f"create {name}", "inspect old", f"start {name}", "remove old"]
    assert [x.id for x in kept] == ["new"]


async def test_a_killed_replica_that_runs_again_is_kept_and_its_replacement_removed() -> None:
    old = container("old")
    engine = Engine(old, after=old)  # restarted (a docker restart) by the time its inspect answers
    replicas = replicas_on(engine)
    replicas.note_killed("old")
    replicas.note_died("old")

    kept = await repair(engine, replicas)

    name = engine.calls[0].removeprefix("create ")
    assert engine.calls == [f"create {name}", "inspect old", f"remove {name}"]
    assert [x.id for x in kept] == ["old"]
    assert replicas.recent("d1", 0) == []  # nothing was replaced


async def test_a_replica_that_died_without_a_kill_is_inspected_first() -> None:
    """A crash: the engine may restart it by its restart policy, so the inspect decides."""
    old = container("old")
    engine = Engine(old, after=dataclasses.replace(old, state="restarting"))
    replicas = replicas_on(engine)
    replicas.note_died("old")
    engine.cleaned_up.set()

    actual = await replicas.observe("s1", killed_as_dead=True)

    assert engine.calls == ["inspect old"]
    assert [x.state for x in actual] == ["restarting"]


async def test_a_started_replica_is_inspected_again() -> None:
    old = container("old")
    engine = Engine(old, after=old)
    replicas = replicas_on(engine)
    replicas.note_killed("old")
    replicas.note_died("old")
    replicas.note_started("old")
    engine.cleaned_up.set()

    actual = await replicas.observe("s1", killed_as_dead=True)

    assert engine.calls == ["inspect old"]
    assert [x.state for x in actual] == ["running"]


def test_a_replica_reported_dead_but_listed_running_is_unconfirmed_until_it_starts_or_the_window_ends() -> None:
    """Swarm lists a service whose task Docker reported dead as running for a while (then shows
    the restarted task, its restart count and port): the converger looks again meanwhile."""
    old = container("old")
    clock = ManualClock()
    replicas = replicas_on(Engine(old, after=old), clock)

    assert not replicas.unconfirmed(old)
    replicas.note_died("old")
    assert replicas.unconfirmed(old)
    assert not replicas.unconfirmed(dataclasses.replace(old, state="exited", ip_address=None))
    replicas.note_started("old")
    assert not replicas.unconfirmed(old)

    replicas.note_died("old")
    replicas.forget_deaths()  # the event stream broke (the engine restarted): a start may be lost
    assert not replicas.unconfirmed(old)

    replicas.note_died("old")
    clock.advance(ReconcilerSettings().crash_window_s)
    assert not replicas.unconfirmed(old)  # a start event lost: the doubt does not last
