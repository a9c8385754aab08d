"""A deployment's live log as the daemon wires it: the build driver and pipeline write each line to
the SQLite store, the store publishes it on the real bus, and the SSE stream follows.

A browser may connect at any moment of a build, and the stored log is written one line at a time
behind the build: each test holds the writer or the stream's read of the stored log at the worst
moment and checks that every line is shown once, in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from deploykit.build import BuildRequest, BuildResult
from deploykit.bus import Event, EventType
from deploykit.deployment import (
    Deployment,
    DeploymentFailure,
    DeploymentFilter,
    DeploymentLog,
    DeploymentService,
)
from deploykit.errors import NOT_FOUND, Error
from deploykit.project import Project, ProjectCreate
from deploykit.service import GitSource
from deploykit_events import EventBus
from deploykit_http import sse
from deploykit_reconciler.builds import BuildDriver, BuildPipeline
from deploykit_sqlite import Store
from tests.sqlite.support import ManualClock, deploy_services, image_service

CLONE = "$ git clone file:///r /build"
WITHIN = 10.0


@dataclass
class Gate:
    """Holds whoever passes it until it is opened; ``held`` says someone waits."""

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    held: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.opened.clear()
        self.held.clear()

    async def passing(self) -> None:
        if not self.opened.is_set():
            self.held.set()
            await self.opened.wait()


class GatedDeployments:
    """The store's deployments, with a gate before each append, each read of the log (``get_log``
    or ``read_log``, whichever the stream uses) and each ``get_deployment``; ``stored`` and
    ``read`` are set after each append and each read of the log."""

    def __init__(self, inner: DeploymentService) -> None:
        self.inner = inner
        self.append_gate = Gate()
        self.read_gate = Gate()
        self.status_gate = Gate()
        self.stored = asyncio.Event()
        self.read = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_deployment(self, id: str) -> Deployment:
        await self.status_gate.passing()
        return await self.inner.get_deployment(id)

    async def append_log(self, id: str, text: str) -> None:
        await self.append_gate.passing()
        await self.inner.append_log(id, text)
        self.stored.set()

    async def get_log(self, id: str) -> str:
        await self.read_gate.passing()
        try:
            return await self.inner.get_log(id)
        finally:
            self.read.set()

    async def read_log(self, id: str) -> DeploymentLog:
        await self.read_gate.passing()
        try:
            return await self.inner.read_log(id)
        finally:
            self.read.set()


@dataclass
class SteppedBuild:
    """A build that prints ``CLONE``, waits for ``go``, prints ``done`` and succeeds."""

    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def build(self, service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        on_log(CLONE)
        await self.go.wait()
        on_log("done")
        return BuildResult(image=req.tag, commit_sha="c0ffee", commit_message="m")


@dataclass
class World:
    store: Store
    bus: EventBus
    project: Project
    deployment: Deployment
    deployments: GatedDeployments
    build: SteppedBuild
    driver: BuildDriver
    built: asyncio.Event


@pytest.fixture
async def world() -> AsyncIterator[World]:
    bus = EventBus()
    store = Store(path=":memory:", data_dir=None, bus=bus, clock=ManualClock(), base_domain="example.test")
    await store.open()
    project = await store.projects.create_project(ProjectCreate(name="Shop"))
    [service], _ = await deploy_services(store, project.id, image_service("api"))
    [dep], _ = await store.deployments.list_deployments(DeploymentFilter(service_id=service.id))
    dep = replace(dep, config=replace(dep.config, source=GitSource("file:///r")))  # for the driver to build
    deployments = GatedDeployments(store.deployments)
    build, built = SteppedBuild(), asyncio.Event()
    driver = BuildDriver(
        builds=BuildPipeline(build, deployments=deployments),
        deployments=deployments,
        deploy_keys=None,
        on_done=lambda _: built.set(),
    )
    try:
        yield World(store, bus, project, dep, deployments, build, driver, built)
    finally:
        await driver.stop()
        await store.close()
        bus.close()


async def start_build(world: World) -> None:
    service = await world.store.services.get_service(world.deployment.service_id)
    await world.driver.ensure(world.project, service, world.deployment)


def follow(world: World, bus: EventBus | None = None, ping_s: float = 30.0) -> asyncio.Task[list[str]]:
    """The live log of the world's deployment as a browser reads it: its lines, up to the end."""

    async def read() -> list[str]:
        lines: list[str] = []
        dep = world.deployment
        stream = sse.deployment_log(
            world.deployments,
            bus or world.bus,
            dep.id,
            dep.service_id,
            ping_s,
            asyncio.Event(),
        )
        async for item in stream:
            if item == sse.END:
                return lines
            if item.startswith("data: "):
                lines.append(json.loads(item[6:])["line"])
        raise AssertionError(f"the stream ended without its end event, after {lines}")

    return asyncio.create_task(read(), name="browser")


async def finish(world: World, stream: asyncio.Task[list[str]]) -> list[str]:
    """Let the build print its last line and end, make the deployment healthy (which ends the
    stream), and return the lines the stream showed."""
    world.build.go.set()
    await asyncio.wait_for(world.built.wait(), WITHIN)
    await world.store.deployments.mark_healthy(world.deployment.id)
    return await asyncio.wait_for(stream, WITHIN)


async def held(gate: Gate | asyncio.Event) -> None:
    await asyncio.wait_for((gate.held if isinstance(gate, Gate) else gate).wait(), WITHIN)


async def test_a_line_printed_before_the_browser_connects_and_stored_after_its_read_is_shown(world: World) -> None:
    deployments = world.deployments
    deployments.append_gate.close()
    await start_build(world)
    await held(deployments.append_gate)  # CLONE is printed, its append waits
    stream = follow(world)
    await held(deployments.read)  # the stream has subscribed and read the stored log: empty
    deployments.append_gate.opened.set()
    assert await finish(world, stream) == [CLONE, "done"]
    assert await world.store.deployments.get_log(world.deployment.id) == f"{CLONE}\ndone\n"


async def test_a_line_stored_between_subscribing_and_reading_the_log_is_shown_once(world: World) -> None:
    deployments = world.deployments
    deployments.read_gate.close()
    stream = follow(world)
    await held(deployments.read_gate)  # the stream has subscribed; its read of the log waits
    await start_build(world)
    await held(deployments.stored)  # CLONE is printed and stored
    deployments.read_gate.opened.set()
    assert await finish(world, stream) == [CLONE, "done"]


async def test_lines_the_bus_dropped_for_a_stream_are_read_from_the_stored_log(world: World) -> None:
    dep = world.deployment
    await world.store.deployments.append_log(dep.id, "before\n")
    lossy = EventBus()  # the stream's bus: it gets only what the test forwards
    stream = follow(world, lossy)
    await held(world.deployments.read)
    published = world.bus.subscribe(frozenset({EventType.BUILD_LOG}))
    for line in ("lost 1\n", "lost 2\n", "seen\n"):
        await world.store.deployments.append_log(dep.id, line)
    events = [await asyncio.wait_for(anext(published), WITHIN) for _ in range(3)]
    lossy.publish(events[-1])
    lossy.publish(Event(EventType.DEPLOYMENT_HEALTHY, dep.project_id, dep.service_id, {"deployment_id": dep.id}))
    assert await asyncio.wait_for(stream, WITHIN) == ["before", "lost 1", "lost 2", "seen"]


async def test_the_last_line_of_a_deployment_that_fails_as_the_browser_connects_is_shown(world: World) -> None:
    dep, deployments = world.deployment, world.deployments
    deployments.status_gate.close()
    stream = follow(world)
    await held(deployments.status_gate)  # the stream has subscribed; its look at the status waits
    await world.store.deployments.append_log(dep.id, "failed: exit 3\n")  # as the reconciler fails it
    await world.store.deployments.mark_failed(dep.id, DeploymentFailure(reason="exit 3", exit_code=3))
    deployments.status_gate.opened.set()
    assert await asyncio.wait_for(stream, WITHIN) == ["failed: exit 3"]


async def test_a_stream_whose_finished_event_the_bus_dropped_ends_with_the_rest_of_the_log(world: World) -> None:
    dep = world.deployment
    await world.store.deployments.append_log(dep.id, "before\n")
    lossy = EventBus()  # the stream's bus: it gets only what the test forwards
    stream = follow(world, lossy, ping_s=0.05)
    await held(world.deployments.read)
    published = world.bus.subscribe(frozenset({EventType.BUILD_LOG}))
    for line in ("seen\n", "lost\n", "failed: exit 3\n"):
        await world.store.deployments.append_log(dep.id, line)
    first = await asyncio.wait_for(anext(published), WITHIN)
    lossy.publish(first)  # the rest, and the deployment failing, never reach the stream
    await world.store.deployments.mark_failed(dep.id, DeploymentFailure(reason="exit 3", exit_code=3))
    lines = await asyncio.wait_for(stream, WITHIN)
    assert lines == ["before", "seen", "lost", "failed: exit 3"]


async def test_a_stream_whose_deployment_is_gone_ends_at_its_next_ping(world: World) -> None:
    dep, deployments = world.deployment, world.deployments
    await world.store.deployments.append_log(dep.id, "before\n")
    stream = follow(world, EventBus(), ping_s=0.05)  # a bus that never says the deployment ended
    await held(deployments.read)

    async def gone(id: str) -> Any:
        raise Error(NOT_FOUND, f"No deployment {id}.")

    deployments.get_deployment = gone  # type: ignore[method-assign]  # its service was deleted
    deployments.read_log = gone  # type: ignore[method-assign]
    assert await asyncio.wait_for(stream, WITHIN) == ["before"]
