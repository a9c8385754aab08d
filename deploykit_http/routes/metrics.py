"""A service's metrics: CPU, memory and network samples of its running containers, taken by the
``MetricsService`` the composition root owns (a sampler that samples only while asked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deploykit.errors import UNAVAILABLE, error_code
from deploykit.metrics import MetricsService
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.shapes.traffic import MetricsOut, sample_out


class MetricsQuery(m.Model):
    since: datetime | None = None


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
            "samples": [sample_out(s) for s in samples],
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
