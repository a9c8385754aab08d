"""The health monitor against a real engine and store: a replica whose health path starts failing
is pulled from the route, restarted, and rejoins once it passes again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime

import pytest

from deploykit.bus import Event, EventType
from deploykit.health import HealthEvent, HealthRecordFilter
from deploykit.ingress import Route
from deploykit_docker import DockerRuntime, SocketHealthProbe
from deploykit_events.bus import EventBus
from deploykit_reconciler import Reconciler
from deploykit_sqlite import Store
from tests.reconciler.support import FAST, Harness, docker_cli, httpd
from tests.reconciler.test_traffic_and_outage import FakeIngress
from tests.wait import wait_for

pytestmark = pytest.mark.docker

CHECK = {
    "type": "http",
    "path": "/health.html",
    "interval_s": 0.5,
    "timeout_s": 0.5,
    "healthy_threshold": 1,
    "unhealthy_threshold": 2,
}


@pytest.fixture
async def monitored(test_image: str) -> AsyncIterator[tuple[Harness, list[tuple[Route, frozenset[str]]]]]:
    """A reconciler with a fake ingress and the store's health records. The ingress records every
    route with the containers the health monitor held out when it was set."""
    bus = EventBus()
    store = Store(path=":memory:", bus=bus, bcrypt_rounds=4)
    await store.open()
    runtime = DockerRuntime()
    await runtime.open()
    routes: list[tuple[Route, frozenset[str]]] = []

    async def set_route(route: Route) -> None:
        routes.append((route, frozenset(h.rec.routes.held_out)))

    async def remove_route(service_id: str) -> None:
        pass

    h = Harness(store=store, bus=bus, runtime=runtime, settings=FAST, image=test_image)
    h.ingress = FakeIngress(set_route_fn=set_route, remove_route_fn=remove_route)
    h.reconciler = Reconciler(
        runtime=runtime,
        logs=runtime,
        probe=SocketHealthProbe(),
        projects=store.projects,
        services=store.services,
        deployments=store.deployments,
        containers=store.containers,
        bus=bus,
        ingress=h.ingress,
        domains=store.domains,
        health=store.health,
        settings=replace(FAST, instance_id=h.instance_id),
    )
    await h.reconciler.start()
    try:
        yield h, routes
    finally:
        await h.stop()
        await h.cleanup()
        await runtime.close()
        await store.close()


async def test_a_replica_whose_health_path_fails_is_pulled_restarted_and_rejoins(
    monitored: tuple[Harness, list[tuple[Route, frozenset[str]]]],
) -> None:
    harness, sets = monitored
    changes = harness.bus.subscribe(frozenset({EventType.HEALTH_CHANGED}))
    project = await harness.project("Health")
    service = await harness.create_service(
        project,
        "web",
        port=8080,
        replicas=2,
        command=httpd(before="echo ok > /www/health.html;"),
        health_check=CHECK,
    )
    (deployment,) = await harness.deployments(service.id)
    await harness.wait_deployment(deployment.id, "healthy", within=30)

    async def both_watched_and_passing() -> bool:
        states = harness.rec.health_state(service.id)
        return len(states) == 2 and all(s.healthy and s.last_result and s.last_result.ok for s in states)

    await wait_for(both_watched_and_passing, within=20, message="both replicas probed healthy by the monitor")
    victim, other = sorted(await harness.running(service.id), key=lambda x: x.replica_index)
    assert victim.ip_address
    assert other.ip_address
    both = sorted([f"{victim.ip_address}:8080", f"{other.ip_address}:8080"])
    assert sets[-1][0].upstreams == both
    started = (await harness.runtime.inspect_container(victim.id)).started_at
    assert started is not None

    await docker_cli("exec", victim.id, "rm", "/www/health.html")

    async def pulled() -> bool:
        return any(r.upstreams == [f"{other.ip_address}:8080"] for r, _ in sets)

    await wait_for(pulled, within=20, message="the failing replica taken out of the route")

    async def restarted() -> datetime | None:
        state = await harness.runtime.inspect_container(victim.id)
        return state.started_at if state.state == "running" and state.started_at != started else None

    await wait_for(restarted, within=20, message="the failing replica restarted in place")

    async def rejoined() -> bool:
        (state, _) = harness.rec.health_state(service.id)
        back = sets[-1][0].upstreams == both
        return back and state.container_id == victim.id and state.healthy

    # The restart runs the command again, which writes the health page back.
    await wait_for(rejoined, within=30, message="the restarted replica back in the route")

    # While it was held out, nothing (the reconcile its restart set off included) routed to it.
    assert any(victim.id in held for _, held in sets)
    assert [r.upstreams for r, held in sets if victim.id in held] == [[f"{other.ip_address}:8080"]]
    assert all(f"{victim.ip_address}:8080" not in r.upstreams for r, held in sets if victim.id in held)
    assert {x.id for x in await harness.running(service.id)} == {victim.id, other.id}, "restarted, not replaced"
    (state, other_state) = harness.rec.health_state(service.id)
    assert (state.restarts, other_state.restarts, other_state.healthy) == (1, 0, True)

    events: list[Event] = []
    while len(events) < 2:
        events.append(await asyncio.wait_for(anext(aiter(changes)), 5))
    changes.close()
    assert [(e.service_id, e.payload["container_id"], e.payload["state"]) for e in events] == [
        (service.id, victim.id, "unhealthy"),
        (service.id, victim.id, "healthy"),
    ]
    assert events[0].payload["reason"].startswith("/health.html failed 2 health checks in a row: HTTP 404")

    records = await harness.store.health.list_health(HealthRecordFilter(service_id=service.id, events=False))
    failed = [r for r in records if not r.result.ok]
    assert failed
    assert all(r.container_id == victim.id and r.result.status_code == 404 for r in failed)
    assert {r.container_id for r in records if r.result.ok} == {victim.id, other.id}
    history = await harness.store.health.list_health(HealthRecordFilter(service_id=service.id, events=True))
    assert [(r.event, r.container_id, r.replica_index) for r in reversed(history)] == [
        (HealthEvent.HELD_OUT, victim.id, 0),
        (HealthEvent.RESTARTED, victim.id, 0),
        (HealthEvent.REJOINED, victim.id, 0),
    ]
    log = await harness.store.deployments.get_log(deployment.id)
    assert "health: replica 0 unhealthy" in log
    assert "health: replica 0 healthy" in log
    assert (await harness.deployment(deployment.id)).status == "healthy"
