"""``MetricsSampler``: container stats sampled only while someone asks for them."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from deploykit.clock import Clock
from deploykit.runtime import ContainerState, ContainerStats


class StatsSource(Protocol):
    """What the sampler reads from the engine (the domain ``Runtime`` has it)."""

    async def list_containers(self) -> list[ContainerState]: ...

    async def stats(self, id: str) -> ContainerStats: ...


class MetricsSampler:
    """Implements the domain ``MetricsService``. Each ask takes one sample of the service's
    running containers (at most one per ``min_interval_s``) and keeps the last ``size`` per
    service, for the last ``max_services`` services asked about. Nothing runs in the background
    and nothing is stored: a service nobody looks at costs nothing. Construction does no I/O."""

    def __init__(
        self,
        *,
        runtime: StatsSource,
        clock: Clock,
        size: int = 360,
        min_interval_s: float = 2.0,
        max_services: int = 100,
    ) -> None:
        self._runtime = runtime
        self._clock = clock
        self.size = size
        self.min_interval_s = min_interval_s
        self.max_services = max_services
        self._rings: dict[str, deque[ContainerStats]] = {}
        self._sampled_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def service_samples(self, service_id: str, *, since: datetime | None = None) -> list[ContainerStats]:
        lock = self._locks.setdefault(service_id, asyncio.Lock())
        async with lock:
            now = self._clock.monotonic()
            if now - self._sampled_at.get(service_id, -1e9) >= self.min_interval_s:
                await self._sample(service_id)
                self._sampled_at[service_id] = now
        samples = list(self._rings.get(service_id, ()))
        if since is None:
            return samples
        after = _comparable(since)
        return [s for s in samples if s.at is not None and _comparable(s.at) >= after]

    async def _sample(self, service_id: str) -> None:
        running = [c for c in await self._runtime.list_containers() if c.service_id == service_id and c.running]
        found = await asyncio.gather(*(self._runtime.stats(c.id) for c in running), return_exceptions=True)
        ring = self._rings.pop(service_id, None) or deque(maxlen=self.size)
        self._rings[service_id] = ring  # most recently asked last
        now = self._clock.now()
        for stats in found:
            if isinstance(stats, ContainerStats):
                ring.append(stats if stats.at is not None else replace(stats, at=now))
        while len(self._rings) > self.max_services:
            oldest = next(iter(self._rings))
            for d in (self._rings, self._sampled_at, self._locks):
                d.pop(oldest, None)


def _comparable(value: datetime) -> datetime:
    """Naive datetimes are UTC (the store's convention); aware ones compare as they are."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
