"""The ingress hook (with a fake ingress), crash loops of a healthy deployment, and an engine
that goes away and comes back (through a socket proxy, so other users of the engine are spared)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from deploykit.bus import EventType
from deploykit.ingress import Route
from deploykit.runtime import volume_name
from deploykit_docker import DockerRuntime
from deploykit_events.bus import EventBus
from deploykit_sqlite import Store
from tests.reconciler.support import FAST, Harness, docker_cli, http_get, httpd
from tests.wait import wait_for

pytestmark = pytest.mark.docker


def _unset(name: str) -> Callable[..., Awaitable[None]]:
    async def call(*args: object) -> None:
        raise AssertionError(f"unexpected call: {name}")

    return call


@dataclass
class FakeIngress:
    set_route_fn: Callable[[Route], Awaitable[None]] = field(default_factory=lambda: _unset("set_route"))
    remove_route_fn: Callable[[str], Awaitable[None]] = field(default_factory=lambda: _unset("remove_route"))

    async def ping(self) -> bool:
        return True

    async def sync_routes(self, routes: list[Route]) -> None:
        raise AssertionError("unexpected call: sync_routes")

    async def set_route(self, route: Route) -> None:
        await self.set_route_fn(route)

    async def remove_route(self, service_id: str) -> None:
        await self.remove_route_fn(service_id)


async def test_ingress_switches_to_ready_replicas_before_old_ones_stop_and_drains(harness: Harness) -> None:
    switches: list[tuple[Route, set[str]]] = []
    removed: list[str] = []

    async def set_route(route: Route) -> None:
        running = {c.deployment_id or "" for c in await harness.containers() if c.state == "running"}
        switches.append((route, running))

    async def remove_route(service_id: str) -> None:
        removed.append(service_id)

    harness.ingress = FakeIngress(set_route_fn=set_route, remove_route_fn=remove_route)
    await harness.stop()
    await harness.start()
    project = await harness.project("Traffic")
    service = await harness.create_service(project, "web", port=8080, command=httpd(), env_vars={"V": "1"})
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy")
    await harness.update_service(service, drain_s=0.5)
    statuses = harness.bus.subscribe(frozenset({EventType.SERVICE_STATUS_CHANGED}), maxsize=100)

    second = (await harness.set_env(service, "V", "2")).created_deployments[0]
    await harness.wait_deployment(second, "healthy")

    async def old_gone() -> bool:
        return {c.deployment_id for c in await harness.containers(service_id=service.id)} == {second}

    await wait_for(old_gone, within=20, message="old replica stopped after the drain")
    await harness.wait_status(service.id, "running")
    # While the old replica drains the service says so (not "deploying").
    seen: list[str] = []
    while "running" not in seen:
        event = await asyncio.wait_for(anext(aiter(statuses)), 5)
        if event.service_id == service.id:
            seen.append(str(event.payload.get("status")))
    statuses.close()
    assert seen == ["deploying", "draining", "running"]
    (new,) = await harness.running(service.id, second)
    route, running_then = switches[-1]
    assert route.service_id == service.id
    assert route.upstreams == [f"{new.ip_address}:8080"]
    assert route.hostnames == [f"web-{project.slug}.localhost"]
    assert running_then >= {first.id, second}, "the switch happened while the old replica still ran"
    assert switches[0][0].upstreams != route.upstreams

    await harness.store.projects.delete_project(project.id)
    await wait_for(lambda: service.id in removed, within=20, message="the route removed with the project")


async def test_crash_looping_replica_of_a_healthy_deployment_fails_the_service_until_it_recovers(
    harness: Harness,
) -> None:
    project = await harness.project("Loop")
    # Healthy at first; crashes on every start once a flag file sits in its volume.
    script = "[ -f /data/crash ] && { echo crashing; exit 9; }; mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"
    service = await harness.create_service(
        project, "web", port=8080, command=["sh", "-c", script], volumes=[{"name": "data", "mount_path": "/data"}]
    )
    (deployment,) = await harness.deployments(service.id)
    await harness.wait_deployment(deployment.id, "healthy")
    await harness.wait_status(service.id, "running")
    statuses = harness.bus.subscribe(frozenset({EventType.SERVICE_STATUS_CHANGED}))
    (victim,) = await harness.running(service.id)

    await docker_cli("exec", victim.id, "touch", "/data/crash")
    await docker_cli("kill", victim.id)

    failed = await harness.wait_status(service.id, "failed")
    assert failed.active_deployment_id == deployment.id
    assert (await harness.deployment(deployment.id)).status == "healthy"
    event = await asyncio.wait_for(anext(aiter(statuses)), 5)
    assert (event.service_id, event.payload.get("status")) == (service.id, "failed")

    volume = volume_name(project.slug, service.slug, "data")
    await docker_cli("run", "--rm", "-v", f"{volume}:/data", harness.image, "rm", "-f", "/data/crash")
    await harness.wait_status(service.id, "running", within=40)
    statuses.close()


class SocketProxy:
    """A unix socket that forwards to the engine's; stopping it looks like dockerd going away."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        self.path = path
        self.target = target
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.path.unlink(missing_ok=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        for coro in (pipe(reader, up_writer), pipe(up_reader, writer)):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


@pytest.fixture
async def outage(test_image: str, tmp_path: Path) -> AsyncIterator[tuple[Harness, SocketProxy]]:
    proxy = SocketProxy(tmp_path / "docker.sock")
    await proxy.start()
    bus = EventBus()
    store = Store(path=":memory:", bus=bus, bcrypt_rounds=4)
    await store.open()
    runtime = DockerRuntime(url=f"unix://{proxy.path}")
    await runtime.open()
    direct = DockerRuntime()
    await direct.open()
    # Production backoff for failed work (1 s doubling to 30 s): recovery must not wait for it.
    settings = replace(FAST, backoff_min_s=1.0, backoff_max_s=30.0)
    h = Harness(store=store, bus=bus, runtime=runtime, settings=settings, image=test_image)
    await h.start()
    try:
        yield h, proxy
    finally:
        await h.stop()
        h.runtime = direct
        await h.cleanup()
        await proxy.stop()
        await runtime.close()
        await direct.close()
        await store.close()


async def test_engine_going_away_and_back_converges_without_losing_records(
    outage: tuple[Harness, SocketProxy],
) -> None:
    harness, proxy = outage
    project = await harness.project("Outage")
    service = await harness.create_service(project, "web", port=8080, command=httpd(), replicas=2)
    (deployment,) = await harness.deployments(service.id)
    await harness.wait_deployment(deployment.id, "healthy")
    await harness.wait_status(service.id, "running")
    before = await harness.running(service.id)
    assert len(before) == 2

    await proxy.stop()
    # While the engine is unreachable one replica dies; nothing can be repaired yet.
    await docker_cli("kill", before[0].id)
    harness.rec.trigger()
    harness.rec.trigger_service(service.id)

    async def hit_the_dead_engine() -> bool:
        return harness.rec.queue.failures(f"service:{service.id}") > 0

    await wait_for(hit_the_dead_engine, within=20, message="a reconcile that failed on the unreachable engine")
    assert {r.id for r in await harness.records(service.id)} == {c.id for c in before}
    assert (await harness.deployment(deployment.id)).status == "healthy"

    await proxy.start()

    async def repaired() -> bool:
        running = await harness.running(service.id)
        if len(running) != 2 or before[0].id in {c.id for c in running}:
            return False
        for c in running:
            if c.ip_address is None or await http_get(c.ip_address, 8080, "/") is None:
                return False
        records = {r.id for r in await harness.records(service.id)}
        return records == {c.id for c in running}

    # Noticed within engine_retry_max_s (0.5 s) plus the repair itself.
    await wait_for(repaired, within=10, message="the killed replica replaced once the engine is back")
    assert (await harness.deployment(deployment.id)).status == "healthy"
    assert [d.id for d in await harness.deployments(service.id)] == [deployment.id]
    await harness.wait_status(service.id, "running")
