"""A service's metrics: CPU, memory and network samples of its running containers, taken by the
``MetricsService`` the composition root owns (a sampler that samples only while asked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deploykit.errors import UNAVAILABLE, error_code
from deploykit.metrics import MetricsService
from deploykit_http import models as m
from deploykit_http import render
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.errors import unavailable


class MetricsQuery(m.Model):
    since: datetime | None = None


class SampleOut(m.Model):
    container_id: str
    at: datetime | None
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    network_rx_bytes: int
    network_tx_bytes: int


class MetricsOut(m.Model):
    service_id: str
    samples: list[SampleOut]
    """Oldest first; one per running container per sampling."""


def endpoints(ctx: Context) -> list[Endpoint]:
    def sampler() -> MetricsService:
        if ctx.c.metrics is None:
            raise unavailable("The container runtime")
        return ctx.c.metrics

    async def service_metrics(call: Call) -> Any:
        q: MetricsQuery = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        try:
            samples = await sampler().service_samples(svc.id, since=q.since)
        except Exception as exc:
            if error_code(exc) == UNAVAILABLE:
                raise unavailable("The container runtime") from exc
            raise
        return {
            "service_id": svc.id,
            "samples": [
                {
                    "container_id": s.container_id,
                    "at": render.iso(s.at),
                    "cpu_percent": s.cpu_percent,
                    "memory_bytes": s.memory_bytes,
                    "memory_limit_bytes": s.memory_limit_bytes,
                    "network_rx_bytes": s.network_rx_bytes,
                    "network_tx_bytes": s.network_tx_bytes,
                }
                for s in samples
            ],
        }

    return [
        Endpoint(
            "GET",
            "/projects/{project_id}/services/{service_id}/metrics",
            service_metrics,
            "CPU, memory and network samples of the service's running containers",
            "traffic",
            query=MetricsQuery,
            response=MetricsOut,
            errors=(404, 422, 503),
        ),
    ]
