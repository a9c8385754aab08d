"""Health checks: how a replica proves it is ready, and the results of probing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from deploykit.errors import FieldErrors


class HealthCheckType(StrEnum):
    HTTP = "http"
    TCP = "tcp"


@dataclass(frozen=True)
class HealthCheck:
    """A readiness and liveness check run against each replica's own address."""

    type: HealthCheckType = HealthCheckType.HTTP
    path: str = "/"
    interval_s: float = 5.0
    timeout_s: float = 2.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3
    start_period_s: float = 0.0

    def validate(self, errors: FieldErrors, prefix: str = "health_check.") -> None:
        if self.type == HealthCheckType.HTTP and not self.path.startswith("/"):
            errors.add(f"{prefix}path", "must start with '/'")
        if not 0.1 <= self.interval_s <= 3600:
            errors.add(f"{prefix}interval_s", "must be between 0.1 and 3600 seconds")
        if not 0.1 <= self.timeout_s <= 600:
            errors.add(f"{prefix}timeout_s", "must be between 0.1 and 600 seconds")
        elif self.timeout_s > self.interval_s:
            errors.add(f"{prefix}timeout_s", "must not exceed interval_s")
        if not 1 <= self.healthy_threshold <= 100:
            errors.add(f"{prefix}healthy_threshold", "must be between 1 and 100")
        if not 1 <= self.unhealthy_threshold <= 100:
            errors.add(f"{prefix}unhealthy_threshold", "must be between 1 and 100")
        if not 0 <= self.start_period_s <= 3600:
            errors.add(f"{prefix}start_period_s", "must be between 0 and 3600 seconds")

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "path": self.path,
            "interval_s": self.interval_s,
            "timeout_s": self.timeout_s,
            "healthy_threshold": self.healthy_threshold,
            "unhealthy_threshold": self.unhealthy_threshold,
            "start_period_s": self.start_period_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthCheck:
        return cls(
            type=HealthCheckType(data.get("type", "http")),
            path=str(data.get("path") or "/"),
            interval_s=float(data.get("interval_s", 5.0)),
            timeout_s=float(data.get("timeout_s", 2.0)),
            healthy_threshold=int(data.get("healthy_threshold", 1)),
            unhealthy_threshold=int(data.get("unhealthy_threshold", 3)),
            start_period_s=float(data.get("start_period_s", 0.0)),
        )


@dataclass(frozen=True)
class HealthResult:
    """One probe of one replica."""

    ok: bool
    latency_ms: float
    status_code: int | None = None
    error: str | None = None
    checked_at: datetime | None = None


class HealthEvent(StrEnum):
    """What the monitor did to a replica, kept beside the probe results."""

    HELD_OUT = "held_out"
    RESTARTED = "restarted"
    REJOINED = "rejoined"


@dataclass(frozen=True)
class HealthRecord:
    """A stored probe result of a service's replica, or (``event`` set) something the monitor
    did to it, with the reason in ``result.error``. Kept 24 hours."""

    service_id: str
    container_id: str
    result: HealthResult
    id: int = 0
    replica_index: int | None = None
    event: HealthEvent | None = None


@dataclass(frozen=True)
class HealthRecordFilter:
    service_id: str
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 500
    events: bool | None = None
    """True: only events; False: only probe results; None: both."""


@dataclass(frozen=True)
class ReplicaHealth:
    """The health monitor's current view of one replica of a service's healthy deployment."""

    service_id: str
    deployment_id: str
    container_id: str
    replica_index: int
    healthy: bool
    """False while the replica is held out of the route (failed ``unhealthy_threshold`` checks in
    a row) until it passes ``healthy_threshold`` in a row again."""
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    restarts: int = 0
    """Restarts by the health monitor since the replica was first watched."""
    last_result: HealthResult | None = None
    since: datetime | None = None
    """When the replica was first watched or last changed between healthy and unhealthy."""


class HealthProbe(Protocol):
    async def probe(self, address: str, port: int, check: HealthCheck) -> HealthResult:
        """Run ``check`` once against ``address:port``. Never raises for a failing target."""
        ...


class HealthRecordService(Protocol):
    async def record_health(self, record: HealthRecord) -> None:
        """Store one result. Raises ``not_found`` for an unknown service."""
        ...

    async def list_health(self, filt: HealthRecordFilter) -> list[HealthRecord]:
        """Results newest first."""
        ...

    async def prune_health(self, before: datetime) -> int:
        """Delete results older than ``before``; returns how many."""
        ...


class HealthMonitor(Protocol):
    def health_state(self, service_id: str) -> list[ReplicaHealth]:
        """The watched replicas of the service's healthy deployment, by replica index; empty
        when it has no health check, no healthy deployment, or is unknown. Never raises."""
        ...
