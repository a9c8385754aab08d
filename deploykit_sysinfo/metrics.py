"""``MetricsSampler``: a supervised background task that, every ``interval_s``, reads each running
managed container's stats (one non-streaming stats call each, at most ``concurrency`` at once)
and the host's CPU, memory, disk and load (psutil), writes the tick's samples in one batch and
rolls the store up."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import psutil

from deploykit.clock import Clock, wait_event
from deploykit.errors import error_message
from deploykit.metrics import ContainerSample, HostSample, MetricsStore
from deploykit.runtime import ContainerState, ContainerStats

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    interval_s: float = 15.0
    """``--metrics-interval``: seconds between two samplings."""
    concurrency: int = 32
    """Stats calls in flight at once. The engine holds each non-streaming call for about two
    seconds (it reads the CPU twice to compute a percentage), so 100 containers at 8 at once
    took ~26 s, longer than the interval; at 32 they fit in ~7 s."""
    disk_path: str = "/"
    """The disk whose use is sampled (the data directory's)."""
    host: bool = True
    """Sample the host too."""


class StatsSource(Protocol):
    """What the sampler reads from the engine (the domain ``Runtime`` has it)."""

    async def list_containers(self) -> list[ContainerState]: ...

    async def stats(self, id: str) -> ContainerStats: ...


@dataclass
class _Counters:
    at: float
    rx: int
    tx: int
    read: int
    write: int


class MetricsSampler:
    def __init__(
        self, *, runtime: StatsSource, store: MetricsStore, clock: Clock, settings: MetricsSettings | None = None
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._clock = clock
        self.settings = settings or MetricsSettings()
        self._previous: dict[str, _Counters] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        """Completed samplings (tests wait on it)."""

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(), name="metrics-sampler")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def tick(self) -> tuple[list[ContainerSample], HostSample | None]:
        """One sampling: read, store in one transaction, roll up. What was stored."""
        now = self._clock.now()
        containers = await self.sample_containers(now)
        host = await self.sample_host(now) if self.settings.host else None
        await self._store.record_samples(containers, host)
        await self._store.roll_up(now)
        self.ticks += 1
        return containers, host

    async def sample_containers(self, now: datetime) -> list[ContainerSample]:
        running = [c for c in await self._runtime.list_containers() if c.running and c.service_id]
        slots = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def one(c: ContainerState) -> ContainerStats | None:
            async with slots:
                try:
                    return await self._runtime.stats(c.id)
                except Exception as exc:  # gone between the list and the call, or the engine hiccuped
                    log.debug("stats of %s failed: %s", c.id[:12], error_message(exc))
                    return None

        found = await asyncio.gather(*(one(c) for c in running))
        mono = self._clock.monotonic()
        samples = []
        for c, stats in zip(running, found, strict=True):
            if stats is not None:
                samples.append(self._sample(c, stats, now, mono))
        seen = {c.id for c in running}
        for gone in [cid for cid in self._previous if cid not in seen]:
            del self._previous[gone]
        return samples

    def _sample(self, c: ContainerState, s: ContainerStats, now: datetime, mono: float) -> ContainerSample:
        current = _Counters(mono, s.network_rx_bytes, s.network_tx_bytes, s.block_read_bytes, s.block_write_bytes)
        before = self._previous.get(c.id)
        self._previous[c.id] = current
        rates = [0.0, 0.0, 0.0, 0.0]
        if before is not None and current.at > before.at:
            span = current.at - before.at
            pairs = (
                (current.rx, before.rx),
                (current.tx, before.tx),
                (current.read, before.read),
                (current.write, before.write),
            )
            # A counter that went down was reset (the container restarted): no rate this time.
            rates = [max(0, value - was) / span for value, was in pairs]
        return ContainerSample(
            at=now,
            service_id=c.service_id or "",
            container_id=c.id,
            replica_index=c.replica_index,
            cpu_percent=s.cpu_percent,
            memory_bytes=s.memory_bytes,
            memory_limit_bytes=s.memory_limit_bytes,
            net_rx_bps=round(rates[0], 1),
            net_tx_bps=round(rates[1], 1),
            block_read_bps=round(rates[2], 1),
            block_write_bps=round(rates[3], 1),
            restarts=c.restart_count,
        )

    async def sample_host(self, now: datetime) -> HostSample | None:
        try:
            return await asyncio.to_thread(_host_sample, now, self.settings.disk_path)
        except OSError as exc:
            log.warning("host metrics could not be read: %s", exc)
            return None

    async def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = self._clock.monotonic()
            try:
                await self.tick()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("metrics sampling failed (%d in a row): %s", failures, error_message(exc))
            wait = self.settings.interval_s * min(2**failures, 8) if failures else self.settings.interval_s
            await wait_event(self._stop, max(0.0, wait - (self._clock.monotonic() - started)))


def _host_sample(now: datetime, disk_path: str) -> HostSample:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(disk_path)
    load1, load5, load15 = os.getloadavg()
    return HostSample(
        at=now,
        cpu_percent=float(psutil.cpu_percent(interval=None)),  # since the previous call: the last interval
        memory_bytes=int(memory.total - memory.available),
        memory_total_bytes=int(memory.total),
        disk_used_bytes=int(disk.used),
        disk_total_bytes=int(disk.total),
        load1=round(load1, 2),
        load5=round(load5, 2),
        load15=round(load15, 2),
    )
