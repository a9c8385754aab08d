"""Metrics history over a fake MetricsService: the range asked for, the rendered series with the
deployment markers, 422 with the field for a bad range, 503 without a store, 403 for members on
the host's metrics."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploykit.deployment import Deployment, DeploymentFilter, DeploymentStatus
from deploykit.metrics import (
    RAW,
    ContainerPoint,
    HostMetrics,
    HostSample,
    MetricsRange,
    ReplicaSeries,
    ServiceMetrics,
)
from deploykit_http.app import build_app
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for
from tests.http.fakes import SERVICE, World, fake

FakeMetrics = fake("FakeMetrics", "service_metrics", "host_metrics")
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the World's clock
AT = NOW - timedelta(minutes=10)


def app(world: World, metrics: Any) -> Any:
    return build_app(dataclasses.replace(world.collaborators(), metrics=metrics), HTTPSettings())


def point(cpu: float) -> ContainerPoint:
    return ContainerPoint(AT, cpu, 100, 1000, 1.5, 2.5, 0.0, 8.0, 1)


def deployment(id: str, at: datetime) -> Deployment:
    return Deployment(
        id=id, service_id="s1", project_id="p1", status=DeploymentStatus.HEALTHY, config=SERVICE.config, created_at=at
    )


async def test_service_metrics_render_replicas_totals_and_the_deployments_within_the_range(world: World) -> None:
    asked: list[tuple[str, MetricsRange]] = []
    metrics = FakeMetrics()

    def service_metrics(service_id: str, rng: MetricsRange) -> ServiceMetrics:
        asked.append((service_id, rng))
        return ServiceMetrics(service_id, rng, RAW, [ReplicaSeries(0, ["c1"], [point(12.5)])], [point(12.5)])

    metrics.service_metrics_fn = service_metrics
    filters: list[DeploymentFilter] = []

    def list_deployments(filt: DeploymentFilter) -> tuple[list[Deployment], int]:
        filters.append(filt)
        return [deployment("d2", AT), deployment("d1", NOW - timedelta(days=2))], 2

    world.deployments.list_deployments_fn = list_deployments
    async with client_for(app(world, metrics)) as c:
        r = await c.get("/projects/p1/services/s1/metrics")
        ranged = await c.get(
            "/projects/p1/services/s1/metrics",
            params={"since": "2025-12-31T00:00:00Z", "until": "2025-12-31T06:00:00", "step": 60},
        )
    assert r.status_code == 200, r.text
    assert ranged.status_code == 200, ranged.text
    body = r.json()
    expected_point = {
        "at": "2025-12-31T23:50:00Z",
        "cpu_percent": 12.5,
        "memory_bytes": 100,
        "memory_limit_bytes": 1000,
        "net_rx_bps": 1.5,
        "net_tx_bps": 2.5,
        "block_read_bps": 0.0,
        "block_write_bps": 8.0,
        "restarts": 1,
    }
    assert body == {
        "service_id": "s1",
        "range": {"since": "2025-12-31T23:00:00Z", "until": "2026-01-01T00:00:00Z", "step": 12, "resolution": 0},
        "replicas": [{"replica_index": 0, "container_ids": ["c1"], "points": [expected_point]}],
        "total": [expected_point],
        "deployments": [{"id": "d2", "status": "healthy", "created_at": "2025-12-31T23:50:00Z"}],
    }
    assert [a[1] for a in asked] == [
        MetricsRange(NOW - timedelta(hours=1), NOW, 12),
        MetricsRange(datetime(2025, 12, 31, tzinfo=UTC), datetime(2025, 12, 31, 6, tzinfo=UTC), 60),
    ]
    assert filters[0].service_id == "s1"
    assert ranged.json()["deployments"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-01-01T00:00:00Z", "until": "2025-12-31T00:00:00Z"}, "until"),
        ({"since": "2025-12-01T00:00:00Z", "step": 1}, "step"),
        ({"step": 0}, "step"),
        ({"since": "yesterday"}, "since"),
    ],
)
async def test_a_bad_range_is_422_with_the_field(world: World, params: dict[str, Any], field: str) -> None:
    async with client_for(app(world, FakeMetrics())) as c:
        r = await c.get("/projects/p1/services/s1/metrics", params=params)
        host = await c.get("/system/metrics", params=params)
    for answer in (r, host):
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid"
        assert field in answer.json()["fields"]


async def test_host_metrics_are_for_admins(world: World) -> None:
    metrics = FakeMetrics()
    sample = HostSample(AT, 25.0, 1 << 30, 4 << 30, 5 << 30, 50 << 30, 0.5, 0.4, 0.3)
    metrics.host_metrics_fn = lambda rng: HostMetrics(rng, 60, [sample])
    async with client_for(app(world, metrics)) as c:
        r = await c.get("/system/metrics", params={"step": 60})
    async with client_for(app(world, metrics), token="member-token") as c:
        member = await c.get("/system/metrics")
    assert r.status_code == 200, r.text
    assert r.json()["range"]["resolution"] == 60
    assert r.json()["points"] == [
        {
            "at": "2025-12-31T23:50:00Z",
            "cpu_percent": 25.0,
            "memory_bytes": 1 << 30,
            "memory_total_bytes": 4 << 30,
            "disk_used_bytes": 5 << 30,
            "disk_total_bytes": 50 << 30,
            "load1": 0.5,
            "load5": 0.4,
            "load15": 0.3,
        }
    ]
    assert (member.status_code, member.json()["error"]) == (403, "forbidden")


async def test_metrics_are_unavailable_without_a_store(world: World) -> None:
    async with client_for(app(world, None)) as c:
        r = await c.get("/projects/p1/services/s1/metrics")
        host = await c.get("/system/metrics")
    for answer in (r, host):
        assert (answer.status_code, answer.json()["error"]) == (503, "unavailable")


async def test_metrics_of_a_service_in_another_project_are_not_found(world: World) -> None:
    async with client_for(app(world, FakeMetrics())) as c:
        r = await c.get("/projects/p2/services/s1/metrics")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
