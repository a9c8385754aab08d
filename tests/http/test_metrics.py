"""A service's metrics over a fake MetricsService: what is asked, how samples render, when it is 503."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from deploykit.errors import UNAVAILABLE, Error
from deploykit.runtime import ContainerStats
from deploykit_http.app import build_app
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for
from tests.http.fakes import World, fake

FakeMetrics = fake("FakeMetrics", "service_samples")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def app(world: World, metrics: Any) -> Any:
    return build_app(dataclasses.replace(world.collaborators(), metrics=metrics), HTTPSettings())


async def test_metrics_render_the_service_s_samples_since_the_asked_time(world: World) -> None:
    asked: list[tuple[str, datetime | None]] = []
    metrics = FakeMetrics()

    def samples(service_id: str, *, since: datetime | None = None) -> list[ContainerStats]:
        asked.append((service_id, since))
        return [ContainerStats("c1", 12.5, 100, 1000, 10, 20, at=AT)]

    metrics.service_samples_fn = samples
    async with client_for(app(world, metrics)) as c:
        everything = await c.get("/projects/p1/services/s1/metrics")
        recent = await c.get("/projects/p1/services/s1/metrics", params={"since": "2026-01-01T00:00:00Z"})
    assert everything.status_code == 200, everything.text
    assert everything.json() == {
        "service_id": "s1",
        "samples": [
            {
                "container_id": "c1",
                "at": "2026-01-01T00:00:00Z",
                "cpu_percent": 12.5,
                "memory_bytes": 100,
                "memory_limit_bytes": 1000,
                "network_rx_bytes": 10,
                "network_tx_bytes": 20,
            }
        ],
    }
    assert recent.status_code == 200, recent.text
    assert asked == [("s1", None), ("s1", AT)]


async def test_metrics_are_unavailable_without_a_sampler_or_a_runtime(world: World) -> None:
    down = FakeMetrics()

    def unreachable(service_id: str, *, since: datetime | None = None) -> list[ContainerStats]:
        raise Error(UNAVAILABLE, "The Docker engine does not answer.")

    down.service_samples_fn = unreachable
    async with client_for(app(world, None)) as c:
        missing = await c.get("/projects/p1/services/s1/metrics")
    async with client_for(app(world, down)) as c:
        failing = await c.get("/projects/p1/services/s1/metrics")
    for r in (missing, failing):
        assert (r.status_code, r.json()["error"]) == (503, "unavailable")
    assert missing.json() == failing.json()


async def test_metrics_of_a_service_in_another_project_are_not_found(world: World) -> None:
    async with client_for(app(world, FakeMetrics())) as c:
        r = await c.get("/projects/p2/services/s1/metrics")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
