"""A service's traffic: domains, health and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from typing_extensions import TypedDict

from deploykit.health import HealthResult, ReplicaHealth
from deploykit.ingress import Domain, TLSStatus
from deploykit.runtime import ContainerStats


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


class SampleOut(TypedDict):
    container_id: str
    at: datetime | None
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    network_rx_bytes: int
    network_tx_bytes: int


def sample_out(s: ContainerStats) -> SampleOut:
    return {
        "container_id": s.container_id,
        "at": s.at,
        "cpu_percent": s.cpu_percent,
        "memory_bytes": s.memory_bytes,
        "memory_limit_bytes": s.memory_limit_bytes,
        "network_rx_bytes": s.network_rx_bytes,
        "network_tx_bytes": s.network_tx_bytes,
    }


class MetricsOut(TypedDict):
    service_id: str
    samples: list[SampleOut]
    """Oldest first; one per running container per sampling."""
