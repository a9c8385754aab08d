"""Metrics history: the background sampler's cost and the store's size.

1. The sampler's cost: ``--containers`` (100) running managed containers (busybox ``sleep``),
   sampled every ``--interval`` (15 s) for ``--minutes`` (5) by the daemon's ``MetricsSampler``
   into a file store, as deploykitd runs it; the CPU time of this process (the sampler, the
   SQLite writes and the roll-ups; not the Docker engine's own work) as a percent of one core
   over the wall time.   [goal <= 2%]
2. The store's size after a simulated 90 days of those containers: hourly ticks for the first 83
   days, 1-minute ticks until the last 6 hours, 15 s ticks for those, each rolled up as the
   sampler does, on a manual clock; rows per resolution and the database file's size.

Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import TEST_IMAGE
from deploykit.clock import SystemClock
from deploykit.metrics import ContainerSample, HostSample
from deploykit.runtime import LABEL_INSTANCE, ContainerSpec, container_labels, managed_labels
from deploykit_docker import DockerRuntime
from deploykit_events import EventBus
from deploykit_sqlite import Store
from deploykit_sysinfo import MetricsSampler, MetricsSettings


class ManualClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()


async def sampler_cost(containers: int, minutes: float, interval_s: float, data_dir: Path) -> None:
    tag = f"bench{uuid.uuid4().hex[:8]}"
    runtime = DockerRuntime()
    await runtime.open()
    network = f"dk-{tag}-net"
    await runtime.ensure_network(network, {**managed_labels(), LABEL_INSTANCE: tag})
    store = Store(path=str(data_dir / "cost.db"), data_dir=data_dir, bus=EventBus(), bcrypt_rounds=4)
    await store.open()
    try:
        started = time.monotonic()
        slots = asyncio.Semaphore(8)

        async def run(i: int) -> None:
            async with slots:
                await runtime.run_container(
                    ContainerSpec(
                        name=f"dk-{tag}-{i}",
                        image=TEST_IMAGE,
                        labels={
                            **container_labels(f"p-{tag}", f"s-{tag}-{i % 10}", f"d-{tag}", i),
                            LABEL_INSTANCE: tag,
                        },
                        network=network,
                        command=["sleep", "36000"],
                        memory_mb=16,
                        stop_grace_s=0,
                    )
                )

        await asyncio.gather(*(run(i) for i in range(containers)))
        running = [c for c in await runtime.list_containers() if c.running]
        print(f"started {containers} containers in {time.monotonic() - started:.0f} s; {len(running)} managed running")
        sampler = MetricsSampler(
            runtime=runtime, store=store.metrics, clock=SystemClock(), settings=MetricsSettings(interval_s=interval_s)
        )
        tick_times: list[float] = []
        cpu0, wall0 = time.process_time(), time.monotonic()
        deadline = wall0 + minutes * 60
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            samples, _ = await sampler.tick()
            tick_times.append(time.monotonic() - t0)
            await asyncio.sleep(max(0.0, min(interval_s - (time.monotonic() - t0), deadline - time.monotonic())))
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        percent = cpu / wall * 100
        print(
            f"sampler: {len(tick_times)} ticks of {len(samples)} containers every {interval_s:g} s over {wall / 60:.1f} min; "
            f"CPU {cpu:.2f} s = {percent:.2f}% of one core   [goal <= 2%]"
        )
        print(f"  tick wall time: median {sorted(tick_times)[len(tick_times) // 2]:.2f} s, max {max(tick_times):.2f} s")
    finally:
        await store.close()
        for c in await runtime.list_containers():
            if c.labels.get(LABEL_INSTANCE) == tag:
                await runtime.remove_container(c.id)
        await runtime.remove_network(network)
        await runtime.close()


async def store_size(containers: int, data_dir: Path) -> None:
    end = datetime(2026, 4, 1, tzinfo=UTC)
    start = end - timedelta(days=90)
    clock = ManualClock(start)
    path = data_dir / "size.db"
    store = Store(path=str(path), data_dir=data_dir, bus=EventBus(), clock=clock, bcrypt_rounds=4)
    await store.open()
    ids = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(containers)]
    services = [str(uuid.uuid4()) for _ in range(10)]
    phases = [
        (end - timedelta(days=7), timedelta(hours=1)),
        (end - timedelta(hours=6), timedelta(minutes=1)),
        (end, timedelta(seconds=15)),
    ]
    t0 = time.monotonic()
    ticks = 0
    try:
        for until, step in phases:
            while clock.at < until:
                at = clock.at
                samples = [
                    ContainerSample(at, services[i % 10], cid, i, 1.5, 20 << 20, 64 << 20, 100.0, 80.0, 0.0, 512.0, 0)
                    for i, cid in enumerate(ids)
                ]
                host = HostSample(at, 12.0, 2 << 30, 8 << 30, 40 << 30, 100 << 30, 0.5, 0.4, 0.3)
                await store.metrics.record_samples(samples, host)
                await store.metrics.roll_up(at)
                ticks += 1
                clock.at = at + step
        rows = await store.metrics.count_rows()
    finally:
        await store.close()
    size = await asyncio.to_thread(db_size, data_dir)
    print(
        f"store after a simulated 90 days of {containers} containers ({ticks} ticks, {time.monotonic() - t0:.0f} s): "
        f"raw {rows.get(0, 0)}, 1-minute {rows.get(60, 0)}, 1-hour {rows.get(3600, 0)} rows; "
        f"database {size / 1e6:.1f} MB (bounded: the same after any longer run)"
    )


def db_size(data_dir: Path) -> int:
    """The database with its -wal and -shm files."""
    return sum(p.stat().st_size for p in data_dir.glob("size.db*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the sampler's cost is measured")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between samplings")
    parser.add_argument("--skip-cost", action="store_true", help="only the store's size (no Docker)")
    parser.add_argument("--skip-size", action="store_true", help="only the sampler's cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dk-bench-metrics-") as tmp:
        if not args.skip_cost:
            asyncio.run(sampler_cost(args.containers, args.minutes, args.interval, Path(tmp)))
        if not args.skip_size:
            asyncio.run(store_size(args.containers, Path(tmp)))
    print(f"(on {os.cpu_count()} cores, shared)")


if __name__ == "__main__":
    main()
