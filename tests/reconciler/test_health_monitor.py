"""The health monitor with fakes and a manual clock: thresholds, hold-out and restart, rejoin,
what is watched, pruning, and probes that do not wait for each other."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest

from deploykit.bus import Event, EventType
from deploykit.container import ContainerRecord
from deploykit.deployment import Deployment, DeploymentStatus
from deploykit.errors import NOT_FOUND, UNAVAILABLE, Error
from deploykit.health import HealthCheck, HealthCheckType, HealthEvent, HealthRecord, HealthResult
from deploykit.runtime import ContainerState
from deploykit.service import ImageSource, Service, ServiceConfig, ServiceStatus
from deploykit_reconciler import ReconcilerSettings
from deploykit_reconciler.health import HealthMonitor
from deploykit_reconciler.routes import RouteTable
from deploykit_reconciler.status import ServiceView, steady
from tests.reconciler.fakes import ManualClock, container, deployment, unset
from tests.wait import wait_for

SETTINGS = ReconcilerSettings(readiness_poll_s=0.0, health_prune_interval_s=600.0, backoff_min_s=1.0)
CHECK = HealthCheck(path="/healthz", interval_s=5.0, timeout_s=1.0, healthy_threshold=1, unhealthy_threshold=3)
C0 = container("c0", deployment_id="d1", replica=0, ip="10.0.0.2")
C1 = container("c1", deployment_id="d1", replica=1, ip="10.0.0.3")


def healthy(check: HealthCheck | None = CHECK, *, port: int | None = 8080) -> Deployment:
    return deployment("d1", status=DeploymentStatus.HEALTHY, replicas=2, port=port, check=check)


@dataclass
class FakeRuntime:
    restart_container_fn: Callable[[str, float], Awaitable[None]] = field(default_factory=lambda: unset("restart"))
    inspect_container_fn: Callable[[str], Awaitable[ContainerState]] = field(default_factory=lambda: unset("inspect"))

    async def restart_container(self, id: str, grace_s: float = 10.0) -> None:
        await self.restart_container_fn(id, grace_s)

    async def inspect_container(self, id: str) -> ContainerState:
        return await self.inspect_container_fn(id)


@dataclass
class FakeRecords:
    record_health_fn: Callable[[HealthRecord], Awaitable[None]] = field(default_factory=lambda: unset("record"))
    prune_health_fn: Callable[[datetime], Awaitable[int]] = field(default_factory=lambda: unset("prune"))

    async def record_health(self, record: HealthRecord) -> None:
        await self.record_health_fn(record)

    async def list_health(self, filt: object) -> list[HealthRecord]:
        raise AssertionError("unexpected call: list_health")

    async def prune_health(self, before: datetime) -> int:
        return await self.prune_health_fn(before)


@dataclass
class FakeDeploymentLog:
    lines: list[tuple[str, str]] = field(default_factory=list)

    async def append_log(self, id: str, text: str) -> None:
        self.lines.append((id, text))


@dataclass
class FakeBus:
    events: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        self.events.append(event)


@dataclass
class World:
    """A monitor whose replicas answer as ``failing`` says; everything it does is written down."""

    clock: ManualClock = field(default_factory=ManualClock)
    failing: set[str] = field(default_factory=set)
    """Addresses whose check fails."""
    probed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    reroutes: list[frozenset[str]] = field(default_factory=list)
    """What was held out at each route change."""
    records: list[HealthRecord] = field(default_factory=list)
    pruned: list[datetime] = field(default_factory=list)
    routes: RouteTable = field(default_factory=RouteTable)
    log: FakeDeploymentLog = field(default_factory=FakeDeploymentLog)
    bus: FakeBus = field(default_factory=FakeBus)
    runtime: FakeRuntime = field(default_factory=FakeRuntime)
    store: FakeRecords = field(default_factory=FakeRecords)
    probe_fn: Callable[[str, int, HealthCheck], Awaitable[HealthResult]] | None = None

    def __post_init__(self) -> None:
        async def restart(id: str, grace_s: float) -> None:
            self.restarted.append(id)

        async def inspect(id: str) -> ContainerState:
            return {"c0": C0, "c1": C1}[id]

        async def record_health(r: HealthRecord) -> None:
            self.records.append(r)

        async def prune(before: datetime) -> int:
            self.pruned.append(before)
            return 0

        self.runtime.restart_container_fn = restart
        self.runtime.inspect_container_fn = inspect
        self.store.record_health_fn = record_health
        self.store.prune_health_fn = prune

    async def probe(self, address: str, port: int, check: HealthCheck) -> HealthResult:
        if self.probe_fn is not None:
            return await self.probe_fn(address, port, check)
        self.probed.append(address)
        if address in self.failing:
            return HealthResult(ok=False, latency_ms=3.0, status_code=503, error="HTTP 503")
        return HealthResult(ok=True, latency_ms=1.5, status_code=200)

    @property
    def held_out(self) -> frozenset[str]:
        return frozenset(self.routes.held_out)

    async def reroute(self, service_id: str) -> None:
        assert service_id == "s1"
        self.reroutes.append(frozenset(self.held_out))

    def monitor(self, settings: ReconcilerSettings = SETTINGS, *, store: bool = True) -> HealthMonitor:
        locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        return HealthMonitor(
            runtime=self.runtime,  # type: ignore[arg-type]
            probe=self,
            deployments=self.log,  # type: ignore[arg-type]
            clock=self.clock,
            settings=settings,
            reroute=self.reroute,
            lock=lambda service_id: locks[service_id],
            routes=self.routes,
            records=self.store if store else None,
            bus=self.bus,  # type: ignore[arg-type]
        )

    async def checks(self, monitor: HealthMonitor, n: int, interval: float = CHECK.interval_s) -> None:
        for _ in range(n):
            self.clock.advance(interval)
            await monitor.check_due()


@pytest.mark.parametrize(
    ("outcomes", "healthy_threshold", "in_route", "restarts", "failures"),
    [
        ("FF", 1, True, 0, 2),
        ("FFF", 1, False, 1, 0),
        ("FFPFF", 1, True, 0, 2),
        ("FFFFFF", 1, False, 2, 0),
        ("FFFP", 1, True, 1, 0),
        ("FFFP", 2, False, 1, 0),
        ("FFFPFP", 2, False, 1, 0),
        ("FFFPP", 2, True, 1, 0),
    ],
    ids=[
        "below-threshold",
        "at-threshold",
        "a-pass-resets-the-count",
        "restarted-again-while-still-failing",
        "rejoins-after-one-pass",
        "needs-two-passes",
        "a-failure-resets-the-passes",
        "rejoins-after-two-passes",
    ],
)
async def test_consecutive_results_decide_hold_out_restart_and_rejoin(
    outcomes: str, healthy_threshold: int, in_route: bool, restarts: int, failures: int
) -> None:
    world = World()
    monitor = world.monitor()
    monitor.track(healthy(replace(CHECK, healthy_threshold=healthy_threshold)), [C0, C1])
    for outcome in outcomes:
        world.failing = {"10.0.0.2"} if outcome == "F" else set()
        await world.checks(monitor, 1)

    state0, state1 = monitor.health_state("s1")
    assert (state0.container_id, state0.healthy, state0.restarts, state0.consecutive_failures) == (
        "c0",
        in_route,
        restarts,
        failures,
    )
    assert (state1.container_id, state1.healthy, state1.restarts) == ("c1", True, 0)
    assert world.restarted == ["c0"] * restarts
    assert world.held_out == (set() if in_route else {"c0"})
    assert world.probed.count("10.0.0.2") == len(outcomes)
    assert world.probed.count("10.0.0.3") == len(outcomes)


async def test_a_failing_replica_is_held_out_restarted_announced_and_rejoins() -> None:
    world = World()
    monitor = world.monitor()
    monitor.track(healthy(), [C0, C1])
    world.failing = {"10.0.0.2"}

    await world.checks(monitor, 2)
    assert (world.reroutes, world.restarted, world.bus.events) == ([], [], [])
    await world.checks(monitor, 1)

    assert world.reroutes == [frozenset({"c0"})], "taken out of the route before the restart"
    assert world.restarted == ["c0"]
    (event,) = world.bus.events
    assert (event.type, event.project_id, event.service_id) == (EventType.HEALTH_CHANGED, "p1", "s1")
    assert event.payload == {
        "service_id": "s1",
        "deployment_id": "d1",
        "container_id": "c0",
        "replica_index": 0,
        "state": "unhealthy",
        "healthy": False,
        "reason": "/healthz failed 3 health checks in a row: HTTP 503; out of the route, restarting",
    }
    assert world.log.lines == [("d1", f"health: replica 0 unhealthy: {event.payload['reason']}\n")]
    (state0, _) = monitor.health_state("s1")
    assert state0.last_result is not None
    assert (state0.last_result.ok, state0.last_result.status_code) == (False, 503)
    assert state0.since == world.clock.now()

    world.failing = set()
    await world.checks(monitor, 1)

    assert world.reroutes == [frozenset({"c0"}), frozenset()]
    assert world.held_out == set()
    assert [e.payload["state"] for e in world.bus.events] == ["unhealthy", "healthy"]
    assert world.bus.events[1].payload["reason"] == "/healthz passed 1 health check(s) in a row"
    assert world.restarted == ["c0"]
    probes = [r for r in world.records if r.event is None]
    assert [(r.container_id, r.result.ok) for r in probes[-2:]] == [("c0", True), ("c1", True)]
    assert len(probes) == 8
    assert all(r.service_id == "s1" and r.result.checked_at is not None for r in world.records)
    assert {(r.container_id, r.replica_index) for r in probes} == {("c0", 0), ("c1", 1)}
    # The history keeps what the monitor did, with its reason, beside the probe results.
    assert [(r.event, r.container_id, r.replica_index, r.result.error) for r in world.records if r.event] == [
        (HealthEvent.HELD_OUT, "c0", 0, "/healthz failed 3 health checks in a row: HTTP 503"),
        (HealthEvent.RESTARTED, "c0", 0, "restart 1 by the health monitor"),
        (HealthEvent.REJOINED, "c0", 0, "/healthz passed 1 health check(s) in a row"),
    ]


async def test_failures_in_the_start_period_after_a_restart_do_not_count() -> None:
    world = World()
    monitor = world.monitor()
    monitor.track(healthy(replace(CHECK, unhealthy_threshold=1, start_period_s=12.0)), [C0])
    world.failing = {"10.0.0.2"}
    await world.checks(monitor, 1)
    assert world.restarted == ["c0"]

    await world.checks(monitor, 2)  # 10 s after the restart: still starting
    assert world.restarted == ["c0"]
    assert monitor.health_state("s1")[0].consecutive_failures == 0

    await world.checks(monitor, 1)
    assert world.restarted == ["c0", "c0"]


@pytest.mark.parametrize(
    "deployed",
    [
        healthy(None),
        healthy(port=None),
        replace(healthy(), status=DeploymentStatus.STARTING),
        replace(healthy(), status=DeploymentStatus.SUPERSEDED),
    ],
    ids=["no-health-check", "no-port", "not-yet-healthy", "superseded"],
)
async def test_only_healthy_deployments_with_a_check_are_probed(deployed: Deployment) -> None:
    world = World()
    monitor = world.monitor(store=False)
    monitor.track(healthy(), [C0])
    monitor.track(deployed, [C0, C1])

    await world.checks(monitor, 3, interval=3600.0)

    assert monitor.health_state("s1") == []
    assert (world.probed, world.records, monitor.probes) == ([], [], 0)


async def test_tracking_follows_what_runs() -> None:
    world = World()
    monitor = world.monitor(store=False)
    monitor.track(healthy(replace(CHECK, unhealthy_threshold=1)), [C0, C1])
    world.failing = {"10.0.0.2"}
    await world.checks(monitor, 1)
    assert world.held_out == {"c0"}

    replacement = container("c2", deployment_id="d1", replica=0, ip="10.0.0.4")
    monitor.track(healthy(), [replacement, C1, container("old", deployment_id="d0")])
    assert [s.container_id for s in monitor.health_state("s1")] == ["c2", "c1"]
    assert world.held_out == set(), "a replaced replica is no longer held out"

    monitor.retain({"other"})
    assert monitor.health_state("s1") == []


async def test_results_are_pruned_after_the_retention_at_every_prune_interval() -> None:
    world = World()
    monitor = world.monitor()
    await monitor.check_due()
    assert world.pruned == [world.clock.now() - timedelta(hours=24)]

    world.clock.advance(599.0)
    await monitor.check_due()
    assert len(world.pruned) == 1

    world.clock.advance(1.0)
    await monitor.check_due()
    assert world.pruned[1:] == [world.clock.now() - timedelta(hours=24)]


async def test_a_failing_prune_is_retried_after_a_backoff() -> None:
    world = World()
    attempts: list[datetime] = []

    async def prune(before: datetime) -> int:
        attempts.append(before)
        if len(attempts) == 1:
            raise Error(UNAVAILABLE, "database is locked")
        return 3

    world.store.prune_health_fn = prune
    monitor = world.monitor()
    await monitor.check_due()
    world.clock.advance(0.5)
    await monitor.check_due()
    assert len(attempts) == 1
    world.clock.advance(0.5)
    await monitor.check_due()
    assert len(attempts) == 2


async def test_a_replica_gone_when_restarted_is_forgotten() -> None:
    world = World()

    async def gone(id: str, grace_s: float) -> None:
        raise Error(NOT_FOUND, "No such container.")

    world.runtime.restart_container_fn = gone
    monitor = world.monitor(store=False)
    monitor.track(healthy(replace(CHECK, unhealthy_threshold=1)), [C0, C1])
    world.failing = {"10.0.0.2"}
    await world.checks(monitor, 1)

    assert [s.container_id for s in monitor.health_state("s1")] == ["c1"]
    assert world.held_out == set()


async def test_a_slow_probe_does_not_hold_up_the_others() -> None:
    world = World()
    release = asyncio.Event()
    recorded = asyncio.Event()

    async def probe(address: str, port: int, check: HealthCheck) -> HealthResult:
        if address == "10.0.0.2":
            await release.wait()
        return HealthResult(ok=True, latency_ms=1.0)

    async def record_health(r: HealthRecord) -> None:
        world.records.append(r)
        recorded.set()

    world.probe_fn = probe
    world.store.record_health_fn = record_health
    monitor = world.monitor(replace(SETTINGS, health_concurrency=2))
    monitor.track(healthy(replace(CHECK, timeout_s=5.0)), [C0, C1])
    world.clock.advance(5.0)
    pass_ = asyncio.create_task(monitor.check_due())

    await asyncio.wait_for(recorded.wait(), 5)
    assert [r.container_id for r in world.records] == ["c1"]
    assert not pass_.done()
    release.set()
    await asyncio.wait_for(pass_, 5)
    assert sorted(r.container_id for r in world.records) == ["c0", "c1"]


async def test_start_runs_one_named_task_and_stop_awaits_it() -> None:
    world = World()
    monitor = world.monitor()
    monitor.start()
    monitor.start()
    names = [t.get_name() for t in asyncio.all_tasks()]
    assert names.count("health-monitor") == 1
    await wait_for(lambda: world.pruned, within=5, message="the loop to prune when it starts")
    assert len(world.pruned) == 1

    await monitor.stop()
    assert "health-monitor" not in [t.get_name() for t in asyncio.all_tasks()]


def test_a_held_out_replica_is_left_out_of_the_steady_route() -> None:
    web = Service(
        id="s1",
        project_id="p1",
        name="web",
        slug="web",
        config=ServiceConfig(source=ImageSource("img:1"), port=8080),
        status=ServiceStatus.RUNNING,
        active_deployment_id="d1",
    )
    records = [
        ContainerRecord(
            id=c.id,
            name=c.name,
            project_id="p1",
            service_id="s1",
            deployment_id="d1",
            replica_index=c.replica_index,
            state=c.state,
            ip_address=c.ip_address,
        )
        for c in (C0, C1)
    ]
    view = ServiceView(service=web, containers=[C0, C1], active=healthy(), records=records, route=["10.0.0.3:8080"])
    assert not steady(view, with_ingress=True)
    assert steady(replace(view, held_out={"c0"}), with_ingress=True)
    assert not steady(replace(view, held_out={"c0"}, route=["10.0.0.2:8080", "10.0.0.3:8080"]), with_ingress=True)


async def test_tcp_checks_name_the_port_in_the_reason() -> None:
    world = World()
    monitor = world.monitor(store=False)
    monitor.track(healthy(HealthCheck(type=HealthCheckType.TCP, interval_s=5.0, unhealthy_threshold=1)), [C0])
    world.failing = {"10.0.0.2"}
    await world.checks(monitor, 1)
    assert world.bus.events[0].payload["reason"].startswith("port 8080 failed 1 health checks in a row")


async def test_a_replica_is_probed_only_while_it_runs_with_an_address() -> None:
    world = World()
    monitor = world.monitor(store=False)
    monitor.track(healthy(), [C0, replace(C1, state="exited", ip_address=None)])
    await world.checks(monitor, 2)
    assert world.probed == ["10.0.0.2", "10.0.0.2"]

    monitor.track(healthy(), [C0, C1])
    await world.checks(monitor, 1)
    assert sorted(world.probed[2:]) == ["10.0.0.2", "10.0.0.3"]
