"""MetricsSampler: samples a service's running containers only while asked, keeps a bounded ring."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from deploykit.errors import NOT_FOUND, UNAVAILABLE, Error
from deploykit.runtime import ContainerState, ContainerStats
from deploykit_sysinfo import MetricsSampler

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Clock:
    t: float = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t


def running(id: str, service_id: str = "s1", state: str = "running") -> ContainerState:
    return ContainerState(id=id, name=f"dk-{id}", labels={"deploykit.service-id": service_id}, state=state)


@dataclass
class Engine:
    containers: list[ContainerState] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    down: bool = False
    sampled: list[str] = field(default_factory=list)

    async def list_containers(self) -> list[ContainerState]:
        if self.down:
            raise Error(UNAVAILABLE, "The Docker engine does not answer.")
        return self.containers

    async def stats(self, id: str) -> ContainerStats:
        if id in self.gone:
            raise Error(NOT_FOUND, "No such container.")
        self.sampled.append(id)
        return ContainerStats(id, 12.5, 100, 1000, 10, 20)


async def test_each_ask_samples_the_service_s_running_containers_at_most_once_per_interval() -> None:
    engine = Engine([running("c1"), running("c2", state="exited"), running("x", "s9")])
    clock = Clock()
    sampler = MetricsSampler(runtime=engine, clock=clock, min_interval_s=2.0)

    first = await sampler.service_samples("s1")
    again = await sampler.service_samples("s1")  # within the interval
    clock.t += 5
    later = await sampler.service_samples("s1", since=clock.now() - timedelta(seconds=1))

    assert first == [ContainerStats("c1", 12.5, 100, 1000, 10, 20, at=START)]
    assert again == first
    assert engine.sampled == ["c1", "c1"]
    assert [s.at for s in later] == [START + timedelta(seconds=5)]


async def test_a_naive_since_is_utc() -> None:
    clock = Clock()
    sampler = MetricsSampler(runtime=Engine([running("c1")]), clock=clock)
    await sampler.service_samples("s1")
    naive = START.replace(tzinfo=None)
    assert len(await sampler.service_samples("s1", since=naive)) == 1
    assert await sampler.service_samples("s1", since=naive + timedelta(seconds=1)) == []


async def test_the_ring_keeps_the_newest_samples_and_forgets_the_least_recently_asked_service() -> None:
    engine = Engine([running("a", "s1"), running("b", "s2")])
    clock = Clock()
    sampler = MetricsSampler(runtime=engine, clock=clock, size=2, min_interval_s=1.0, max_services=1)
    for _ in range(3):
        await sampler.service_samples("s1")
        clock.t += 1
    assert [s.at for s in await sampler.service_samples("s1")] == [START + timedelta(seconds=s) for s in (2, 3)]

    await sampler.service_samples("s2")
    engine.down = True  # s1 was forgotten: its next ask must sample, and cannot
    with pytest.raises(Error) as raised:
        await sampler.service_samples("s1")
    assert raised.value.code == UNAVAILABLE


async def test_a_container_gone_between_listing_and_sampling_is_skipped() -> None:
    engine = Engine([running("c1"), running("c2")], gone={"c2"})
    sampler = MetricsSampler(runtime=engine, clock=Clock())
    assert [s.container_id for s in await sampler.service_samples("s1")] == ["c1"]
