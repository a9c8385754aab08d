"""Metrics history: a service's series per replica and summed, and the host's."""

from __future__ import annotations

from datetime import datetime

from typing_extensions import TypedDict

from deploykit.deployment import Deployment, DeploymentStatus
from deploykit.metrics import ContainerPoint, HostMetrics, HostSample, MetricsRange, ServiceMetrics


class RangeOut(TypedDict):
    since: datetime
    until: datetime
    step: int
    """Seconds per bucket (at least the stored resolution)."""
    resolution: int
    """The stored resolution read: 0 raw samples, 60 one-minute averages, 3600 one-hour averages."""


def range_out(rng: MetricsRange, resolution: int) -> RangeOut:
    return {"since": rng.since, "until": rng.until, "step": rng.step_s, "resolution": resolution}


class ContainerPointOut(TypedDict):
    at: datetime
    """The bucket's start."""
    cpu_percent: float
    """Of one core (200: two cores busy); averaged over the bucket."""
    memory_bytes: int
    memory_limit_bytes: int
    net_rx_bps: float
    net_tx_bps: float
    block_read_bps: float
    block_write_bps: float
    restarts: int
    """The engine's restart count (highest in the bucket)."""


def point_out(p: ContainerPoint) -> ContainerPointOut:
    return {
        "at": p.at,
        "cpu_percent": round(p.cpu_percent, 2),
        "memory_bytes": p.memory_bytes,
        "memory_limit_bytes": p.memory_limit_bytes,
        "net_rx_bps": round(p.net_rx_bps, 1),
        "net_tx_bps": round(p.net_tx_bps, 1),
        "block_read_bps": round(p.block_read_bps, 1),
        "block_write_bps": round(p.block_write_bps, 1),
        "restarts": p.restarts,
    }


class ReplicaSeriesOut(TypedDict):
    replica_index: int
    container_ids: list[str]
    """The containers that were this replica over the range (a redeploy replaces them)."""
    points: list[ContainerPointOut]


class DeploymentMarkerOut(TypedDict):
    id: str
    status: DeploymentStatus
    created_at: datetime | None


def marker_out(d: Deployment) -> DeploymentMarkerOut:
    return {"id": d.id, "status": d.status, "created_at": d.created_at}


class ServiceMetricsOut(TypedDict):
    service_id: str
    range: RangeOut
    replicas: list[ReplicaSeriesOut]
    total: list[ContainerPointOut]
    """The replicas summed bucket by bucket."""
    deployments: list[DeploymentMarkerOut]
    """The service's deployments created within the range, oldest first (chart markers)."""


def service_metrics_out(m: ServiceMetrics, deployments: list[Deployment]) -> ServiceMetricsOut:
    return {
        "service_id": m.service_id,
        "range": range_out(m.range, m.resolution),
        "replicas": [
            {
                "replica_index": r.replica_index,
                "container_ids": r.container_ids,
                "points": [point_out(p) for p in r.points],
            }
            for r in m.replicas
        ],
        "total": [point_out(p) for p in m.total],
        "deployments": [marker_out(d) for d in deployments],
    }


class HostPointOut(TypedDict):
    at: datetime
    cpu_percent: float
    """Of the whole host (100: every core busy)."""
    memory_bytes: int
    memory_total_bytes: int
    disk_used_bytes: int
    disk_total_bytes: int
    """Of the data directory's disk."""
    load1: float
    load5: float
    load15: float


def host_point_out(p: HostSample) -> HostPointOut:
    return {
        "at": p.at,
        "cpu_percent": p.cpu_percent,
        "memory_bytes": p.memory_bytes,
        "memory_total_bytes": p.memory_total_bytes,
        "disk_used_bytes": p.disk_used_bytes,
        "disk_total_bytes": p.disk_total_bytes,
        "load1": p.load1,
        "load5": p.load5,
        "load15": p.load15,
    }


class HostMetricsOut(TypedDict):
    range: RangeOut
    points: list[HostPointOut]


def host_metrics_out(m: HostMetrics) -> HostMetricsOut:
    return {"range": range_out(m.range, m.resolution), "points": [host_point_out(p) for p in m.points]}
