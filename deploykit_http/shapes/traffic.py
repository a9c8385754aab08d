"""A service's traffic: domains and health."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from typing_extensions import TypedDict

from deploykit.health import HealthEvent, HealthRecord, HealthResult, ReplicaHealth
from deploykit.ingress import Domain, TLSStatus


class DomainOut(TypedDict):
    hostname: str
    is_generated: bool
    dns_ok: bool | None
    tls_status: TLSStatus
    created_at: datetime | None


def domain_out(d: Domain) -> DomainOut:
    return {
        "hostname": d.hostname,
        "is_generated": d.is_generated,
        "dns_ok": d.dns_ok,
        "tls_status": d.tls_status,
        "created_at": d.created_at,
    }


class DomainList(TypedDict):
    data: list[DomainOut]


class HealthResultOut(TypedDict):
    container_id: str
    ok: bool
    latency_ms: float
    status_code: int | None
    error: str | None
    checked_at: datetime | None


def health_result_out(container_id: str, r: HealthResult) -> HealthResultOut:
    return {
        "container_id": container_id,
        "ok": r.ok,
        "latency_ms": r.latency_ms,
        "status_code": r.status_code,
        "error": r.error,
        "checked_at": r.checked_at,
    }


class ReplicaHealthOut(TypedDict):
    container_id: str
    deployment_id: str
    replica_index: int
    healthy: bool
    consecutive_failures: int
    consecutive_successes: int
    restarts: int
    last_result: HealthResultOut | None
    since: datetime | None


def replica_health_out(r: ReplicaHealth) -> ReplicaHealthOut:
    return {
        "container_id": r.container_id,
        "deployment_id": r.deployment_id,
        "replica_index": r.replica_index,
        "healthy": r.healthy,
        "consecutive_failures": r.consecutive_failures,
        "consecutive_successes": r.consecutive_successes,
        "restarts": r.restarts,
        "last_result": health_result_out(r.container_id, r.last_result) if r.last_result is not None else None,
        "since": r.since,
    }


class ServiceHealthOut(TypedDict):
    service_id: str
    status: Literal["healthy", "unhealthy", "unknown"]
    """unknown: no health check, no healthy deployment, or nothing probed yet."""
    replicas: list[ReplicaHealthOut]
    results: list[HealthResultOut]
    """Recent probe results (kept 24 hours), newest first."""


class HealthProbeOut(TypedDict):
    at: datetime | None
    replica_index: int | None
    """None for results stored before replicas were recorded."""
    container_id: str
    ok: bool
    latency_ms: float
    status_code: int | None
    reason: str | None
    """Why it failed (None when it passed)."""


class HealthEventOut(TypedDict):
    at: datetime | None
    replica_index: int | None
    container_id: str
    event: HealthEvent
    """held_out: out of the route after failed checks; restarted: by the monitor; rejoined: back in."""
    reason: str | None


def health_probe_out(r: HealthRecord) -> HealthProbeOut:
    return {
        "at": r.result.checked_at,
        "replica_index": r.replica_index,
        "container_id": r.container_id,
        "ok": r.result.ok,
        "latency_ms": r.result.latency_ms,
        "status_code": r.result.status_code,
        "reason": None if r.result.ok else r.result.error or _status_reason(r.result.status_code),
    }


def _status_reason(status: int | None) -> str:
    return f"HTTP {status}" if status is not None else "no answer"


def health_event_out(r: HealthRecord) -> HealthEventOut:
    assert r.event is not None
    return {
        "at": r.result.checked_at,
        "replica_index": r.replica_index,
        "container_id": r.container_id,
        "event": r.event,
        "reason": r.result.error,
    }


class HealthHistoryOut(TypedDict):
    service_id: str
    since: datetime
    until: datetime
    probes: list[HealthProbeOut]
    """Probe results, oldest first (the newest ``limit`` when ``truncated``)."""
    events: list[HealthEventOut]
    """Held-out, restart and rejoin events, oldest first."""
    truncated: bool
