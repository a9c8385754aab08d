"""Metrics history: samples of the managed containers and of the host, taken in the background
every ``interval_s`` and kept at three resolutions (raw for 6 hours, 1-minute averages for 7
days, 1-hour averages for 90 days), so the store stays bounded whatever runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from deploykit.errors import FieldErrors

RAW = 0
MINUTE = 60
HOUR = 3600
RESOLUTIONS = (RAW, MINUTE, HOUR)
"""Stored resolutions in seconds; ``RAW`` rows are the samples as taken."""

RETENTION: dict[int, timedelta] = {
    RAW: timedelta(hours=6),
    MINUTE: timedelta(days=7),
    HOUR: timedelta(days=90),
}

MAX_POINTS = 2000
"""A query answers at most this many buckets per series; a finer step is refused."""


@dataclass(frozen=True)
class ContainerSample:
    """One look at one running container. Rates are per second since the sampler's previous look
    at the same container (0 on the first)."""

    at: datetime
    service_id: str
    container_id: str
    replica_index: int
    cpu_percent: float
    """Of one core: 200 is two cores busy."""
    memory_bytes: int
    memory_limit_bytes: int
    net_rx_bps: float = 0.0
    net_tx_bps: float = 0.0
    block_read_bps: float = 0.0
    block_write_bps: float = 0.0
    restarts: int = 0
    """The engine's restart count of the container."""


@dataclass(frozen=True)
class HostSample:
    at: datetime
    cpu_percent: float
    """Of the whole host: 100 is every core busy."""
    memory_bytes: int
    memory_total_bytes: int
    disk_used_bytes: int
    disk_total_bytes: int
    load1: float
    load5: float
    load15: float


@dataclass(frozen=True)
class MetricsRange:
    """What a metrics query asks for: ``[since, until)`` in buckets of ``step_s`` seconds."""

    since: datetime
    until: datetime
    step_s: int

    def validate(self) -> None:
        errors = FieldErrors()
        if self.until <= self.since:
            errors.add("until", "must be after since")
        if self.step_s < 1:
            errors.add("step", "must be at least 1 second")
        elif (self.until - self.since).total_seconds() / self.step_s > MAX_POINTS:
            errors.add("step", f"too fine: at most {MAX_POINTS} points per series")
        errors.raise_if_any()


def default_step(since: datetime, until: datetime) -> int:
    """About 300 buckets over the range (a bucket without samples is left out)."""
    span = max(1.0, (until - since).total_seconds())
    return max(1, int(span // 300))


def resolution_for(rng: MetricsRange, now: datetime) -> int:
    """The finest stored resolution that still covers ``since`` and is not finer than needed."""
    for resolution in RESOLUTIONS:
        if rng.since >= now - RETENTION[resolution] and (resolution == HOUR or rng.step_s < _next(resolution)):
            return resolution
    return HOUR


def _next(resolution: int) -> int:
    return MINUTE if resolution == RAW else HOUR


@dataclass(frozen=True)
class ContainerPoint:
    """One bucket of a series: averages over the bucket, ``restarts`` its highest count."""

    at: datetime
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    net_rx_bps: float
    net_tx_bps: float
    block_read_bps: float
    block_write_bps: float
    restarts: int


@dataclass(frozen=True)
class ReplicaSeries:
    replica_index: int
    container_ids: list[str]
    points: list[ContainerPoint]


@dataclass(frozen=True)
class ServiceMetrics:
    service_id: str
    range: MetricsRange
    resolution: int
    replicas: list[ReplicaSeries]
    total: list[ContainerPoint]
    """The replicas summed bucket by bucket (CPU, memory, limits and rates add up)."""


@dataclass(frozen=True)
class HostMetrics:
    range: MetricsRange
    resolution: int
    points: list[HostSample]


class MetricsService(Protocol):
    """What the API reads."""

    async def service_metrics(self, service_id: str, rng: MetricsRange) -> ServiceMetrics:
        """The service's series over ``rng``, per replica and summed. Raises ``invalid``."""
        ...

    async def host_metrics(self, rng: MetricsRange) -> HostMetrics:
        """The host's series over ``rng``. Raises ``invalid``."""
        ...


class MetricsStore(MetricsService, Protocol):
    """Where the sampler writes."""

    async def record_samples(self, containers: list[ContainerSample], host: HostSample | None) -> None:
        """Store one tick's samples in one transaction."""
        ...

    async def roll_up(self, now: datetime) -> int:
        """Average completed minutes and hours into their resolution and drop what is past its
        retention; idempotent. Returns the rows removed."""
        ...
