"""MetricsSampler: each tick reads every running managed container and the host, stores the tick in
one batch (rates from the previous tick's counters) and rolls the store up; a failing engine is
backed off, never fatal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from deploykit.errors import NOT_FOUND, UNAVAILABLE, Error
from deploykit.metrics import MetricsRange
from deploykit.runtime import ContainerState, ContainerStats
from deploykit_events import EventBus
from deploykit_sqlite import Store
from deploykit_sysinfo import MetricsSampler, MetricsSettings
from tests.wait import wait_for

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Clock:
    t: float = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t


def running(id: str, service_id: str = "s1", state: str = "running", replica: int = 0) -> ContainerState:
    labels = {"deploykit.service-id": service_id, "deploykit.replica-index": str(replica)}
    return ContainerState(id=id, name=f"dk-{id}", labels=labels, state=state, restart_count=1)


@dataclass
class Engine:
    containers: list[ContainerState] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    down: bool = False
    rx: int = 1000
    sampled: list[str] = field(default_factory=list)
    refused: int = 0

    async def list_containers(self) -> list[ContainerState]:
        if self.down:
            self.refused += 1
            raise Error(UNAVAILABLE, "The Docker engine does not answer.")
        return self.containers

    async def stats(self, id: str) -> ContainerStats:
        if id in self.gone:
            raise Error(NOT_FOUND, "No such container.")
        self.sampled.append(id)
        return ContainerStats(id, 12.5, 100, 1000, self.rx, 20, block_read_bytes=4096)


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = Store(path=":memory:", bus=EventBus(), clock=Clock(t=60), bcrypt_rounds=4)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def sampler_for(engine: Engine, store: Store, clock: Clock, **kw: float) -> MetricsSampler:
    settings = MetricsSettings(interval_s=kw.get("interval_s", 15.0), host=bool(kw.get("host", 0)))
    return MetricsSampler(runtime=engine, store=store.metrics, clock=clock, settings=settings)


async def test_a_tick_stores_every_running_managed_container_with_rates_from_the_previous_tick(store: Store) -> None:
    engine = Engine([running("c1"), running("c2", state="exited"), running("x", "s9", replica=1)])
    clock = Clock()
    sampler = sampler_for(engine, store, clock)

    first, _ = await sampler.tick()
    clock.t += 10
    engine.rx = 6000  # 5000 bytes in 10 s
    second, _ = await sampler.tick()

    assert sorted(engine.sampled) == ["c1", "c1", "x", "x"]  # never the exited one
    assert [(s.container_id, s.net_rx_bps) for s in first] == [("c1", 0.0), ("x", 0.0)]
    by_id = {s.container_id: s for s in second}
    assert (by_id["c1"].net_rx_bps, by_id["c1"].block_read_bps, by_id["c1"].restarts) == (500.0, 0.0, 1)
    assert by_id["x"].replica_index == 1
    stored = await store.metrics.service_metrics("s9", MetricsRange(START, START + timedelta(minutes=1), 1))
    assert [p.net_rx_bps for p in stored.total] == [0.0, 500.0]


async def test_a_counter_that_went_down_gives_no_rate(store: Store) -> None:
    engine = Engine([running("c1")], rx=9000)
    clock = Clock()
    sampler = sampler_for(engine, store, clock)
    await sampler.tick()
    clock.t += 15
    engine.rx = 100  # the container restarted
    [after], _ = await sampler.tick()
    assert after.net_rx_bps == 0.0


async def test_a_container_gone_between_listing_and_sampling_is_skipped(store: Store) -> None:
    engine = Engine([running("c1"), running("c2")], gone={"c2"})
    samples, _ = await sampler_for(engine, store, Clock()).tick()
    assert [s.container_id for s in samples] == ["c1"]


async def test_a_tick_samples_the_host(store: Store) -> None:
    _, host = await sampler_for(Engine(), store, Clock(), host=1).tick()
    assert host is not None
    assert 0 < host.memory_bytes <= host.memory_total_bytes
    assert 0 < host.disk_used_bytes <= host.disk_total_bytes
    points = await store.metrics.host_metrics(MetricsRange(START, START + timedelta(minutes=1), 1))
    assert [p.memory_total_bytes for p in points.points] == [host.memory_total_bytes]


async def test_the_loop_survives_an_unreachable_engine_and_samples_once_it_answers(store: Store) -> None:
    engine = Engine([running("c1")], down=True)
    sampler = sampler_for(engine, store, Clock(), interval_s=0.01)
    sampler.start()
    try:
        await wait_for(lambda: engine.refused >= 2, within=10.0, message="two ticks refused by the engine")
        engine.down = False
        await wait_for(lambda: sampler.ticks >= 2, within=10.0, message="two ticks after the engine answered")
    finally:
        await sampler.close()
    assert "c1" in engine.sampled
