"""Metrics history: a service's CPU, memory, network and block I/O per replica and summed, and
the host's, read from the store the background sampler fills (``MetricsService``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from deploykit.deployment import DeploymentFilter
from deploykit.metrics import MetricsRange, MetricsService, default_step
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.shapes.metrics import HostMetricsOut, ServiceMetricsOut, host_metrics_out, service_metrics_out

DEFAULT_SPAN = timedelta(hours=1)


class MetricsQuery(m.Model):
    since: datetime | None = Field(default=None, description="Start of the range (default: an hour before until)")
    until: datetime | None = Field(default=None, description="End of the range, exclusive (default: now)")
    step: int | None = Field(
        default=None, ge=1, le=86400, description="Seconds per bucket (default: about 300 buckets over the range)"
    )


def metrics_range(q: MetricsQuery, now: datetime) -> MetricsRange:
    until = _utc(q.until) if q.until is not None else now
    since = _utc(q.since) if q.since is not None else until - DEFAULT_SPAN
    rng = MetricsRange(since=since, until=until, step_s=q.step or default_step(since, until))
    rng.validate()
    return rng


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def endpoints(ctx: Context) -> list[Endpoint]:
    def store() -> MetricsService:
        if ctx.c.metrics is None:
            raise unavailable("Metrics")
        return ctx.c.metrics

    async def service_metrics(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        rng = metrics_range(call.query, ctx.c.clock.now())
        found = await store().service_metrics(svc.id, rng)
        deployments, _ = await ctx.c.deployments.list_deployments(DeploymentFilter(service_id=svc.id, limit=100))
        markers = [d for d in deployments if d.created_at is not None and rng.since <= _utc(d.created_at) < rng.until]
        return service_metrics_out(found, sorted(markers, key=lambda d: _utc(d.created_at or rng.since)))

    async def host_metrics(call: Call) -> Any:
        rng = metrics_range(call.query, ctx.c.clock.now())
        return host_metrics_out(await store().host_metrics(rng))

    return [
        Endpoint(
            "GET",
            "/projects/{project_id}/services/{service_id}/metrics",
            service_metrics,
            "The service's CPU, memory, network and block I/O over a range, per replica and summed",
            "traffic",
            query=MetricsQuery,
            response=ServiceMetricsOut,
            errors=(404, 422, 503),
        ),
        Endpoint(
            "GET",
            "/system/metrics",
            host_metrics,
            "The host's CPU, memory, disk and load over a range",
            "system",
            Access.ADMIN,
            query=MetricsQuery,
            response=HostMetricsOut,
            errors=(403, 422, 503),
        ),
    ]
