"""MetricsStore: a tick's samples stored, rolled up into 1-minute and 1-hour averages, pruned by
resolution on a manual clock, and read back per replica and summed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from deploykit.errors import INVALID, ValidationError
from deploykit.metrics import HOUR, MINUTE, RAW, ContainerSample, HostSample, MetricsRange
from deploykit_sqlite import Store
from tests.sqlite.support import START, ManualClock


def sample(at: datetime, container: str = "c1", replica: int = 0, cpu: float = 10.0, **kw: float) -> ContainerSample:
    return ContainerSample(
        at=at,
        service_id="s1",
        container_id=container,
        replica_index=replica,
        cpu_percent=cpu,
        memory_bytes=int(kw.get("memory", 100)),
        memory_limit_bytes=1000,
        net_rx_bps=kw.get("rx", 0.0),
        restarts=int(kw.get("restarts", 0)),
    )


def host(at: datetime, cpu: float = 50.0) -> HostSample:
    return HostSample(at, cpu, 1 << 30, 4 << 30, 10 << 30, 100 << 30, 1.0, 0.5, 0.25)


async def rows(store: Store) -> dict[int, int]:
    return await store.metrics.count_rows()


async def test_samples_are_read_back_per_replica_and_summed(store: Store, clock: ManualClock) -> None:
    at = START - timedelta(minutes=5)
    await store.metrics.record_samples(
        [sample(at, "c1", 0, cpu=10.0, rx=100.0), sample(at, "c2", 1, cpu=30.0, rx=50.0)], host(at)
    )
    got = await store.metrics.service_metrics("s1", MetricsRange(START - timedelta(hours=1), START, 15))
    assert got.resolution == RAW
    assert [(r.replica_index, r.container_ids, [p.cpu_percent for p in r.points]) for r in got.replicas] == [
        (0, ["c1"], [10.0]),
        (1, ["c2"], [30.0]),
    ]
    [total] = got.total
    assert (total.cpu_percent, total.memory_bytes, total.memory_limit_bytes, total.net_rx_bps) == (
        40.0,
        200,
        2000,
        150.0,
    )
    assert total.at <= at
    hosts = await store.metrics.host_metrics(MetricsRange(START - timedelta(hours=1), START, 15))
    assert [p.cpu_percent for p in hosts.points] == [50.0]


async def test_samples_are_averaged_within_a_step(store: Store) -> None:
    base = START - timedelta(minutes=30)
    base = base - timedelta(seconds=base.timestamp() % 60)
    await store.metrics.record_samples([sample(base, cpu=10.0)], None)
    await store.metrics.record_samples([sample(base + timedelta(seconds=15), cpu=30.0, restarts=2)], None)
    got = await store.metrics.service_metrics("s1", MetricsRange(base, base + timedelta(minutes=1), 30))
    assert [(p.at, p.cpu_percent, p.restarts) for p in got.total] == [(base, 20.0, 2)]


async def test_roll_up_averages_minutes_and_hours_and_keeps_the_store_bounded(store: Store, clock: ManualClock) -> None:
    # Two days of one container sampled every 15 s, rolled up every minute as the sampler does.
    t = START
    for minute in range(2 * 24 * 60):
        await store.metrics.record_samples(
            [sample(t + timedelta(seconds=s), cpu=float(minute % 60)) for s in (0, 15, 30, 45)],
            host(t),
        )
        t += timedelta(minutes=1)
        clock.current = t
        await store.metrics.roll_up(t)
    counts = await rows(store)
    assert counts[RAW] == 6 * 60 * 4  # six hours of raw samples
    assert counts[MINUTE] == 2 * 24 * 60  # every minute of the two days (kept 7 days)
    assert counts[HOUR] == 2 * 24  # every hour
    hours = await store.metrics.service_metrics("s1", MetricsRange(START, START + timedelta(days=2), HOUR))
    assert hours.resolution == HOUR  # an hourly step reads the hourly roll-up
    assert {p.cpu_percent for p in hours.total} == {29.5}  # the average of 0..59

    # Ninety-one days on, only the last 90 days of hours remain, and nothing finer.
    clock.current = t + timedelta(days=91)
    removed = await store.metrics.roll_up(clock.current)
    assert removed > 0
    assert await rows(store) == {}


async def test_roll_up_is_idempotent_and_a_partial_minute_is_completed_later(store: Store) -> None:
    base = START - timedelta(seconds=START.timestamp() % 60)
    await store.metrics.record_samples([sample(base, cpu=10.0)], None)
    await store.metrics.roll_up(base + timedelta(seconds=61))
    await store.metrics.roll_up(base + timedelta(seconds=61))
    await store.metrics.record_samples([sample(base + timedelta(seconds=30), cpu=30.0)], None)  # late
    await store.metrics.roll_up(base + timedelta(seconds=75))
    got = await store.metrics.service_metrics(
        "s1", MetricsRange(base - timedelta(hours=7), base + timedelta(minutes=1), 60)
    )
    assert got.resolution == MINUTE
    assert [(p.at, p.cpu_percent) for p in got.total] == [(base, 20.0)]
    assert (await rows(store))[MINUTE] == 1


@pytest.mark.parametrize(
    ("since", "until", "step", "field"),
    [
        (START, START, 60, "until"),
        (START, START - timedelta(hours=1), 60, "until"),
        (START - timedelta(days=7), START, 1, "step"),
        (START - timedelta(hours=1), START, 0, "step"),
    ],
)
async def test_a_bad_range_is_invalid_with_its_field(
    store: Store, since: datetime, until: datetime, step: int, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await store.metrics.service_metrics("s1", MetricsRange(since, until, step))
    assert info.value.code == INVALID
    assert field in info.value.fields


async def test_samples_of_a_minute_not_yet_rolled_up_are_read_raw(store: Store, clock: ManualClock) -> None:
    """A tick just before a minute ends, read just after it and before the next tick rolls it up:
    the samples count (they used to vanish until the roll-up)."""
    minute = START - timedelta(seconds=START.timestamp() % 60)
    await store.metrics.record_samples([sample(minute - timedelta(seconds=1), cpu=10.0)], host(minute))
    await store.metrics.roll_up(minute - timedelta(seconds=1))
    clock.current = minute + timedelta(seconds=5)
    rng = MetricsRange(minute - timedelta(minutes=5), clock.current, 300)
    got = await store.metrics.service_metrics("s1", rng)
    assert got.resolution == MINUTE
    assert [(r.replica_index, r.container_ids) for r in got.replicas] == [(0, ["c1"])]
    assert [p.cpu_percent for p in (await store.metrics.host_metrics(rng)).points] == [50.0]

    await store.metrics.roll_up(clock.current)  # the minute is rolled up now: read once, not twice
    again = await store.metrics.service_metrics("s1", rng)
    assert [p.cpu_percent for p in again.total] == [10.0]
