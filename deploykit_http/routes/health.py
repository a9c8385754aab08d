"""A service's health: the state of its replicas as the health monitor sees them, and recent
check results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from deploykit.errors import FieldErrors
from deploykit.health import HealthRecordFilter
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.shapes.traffic import (
    HealthHistoryOut,
    ServiceHealthOut,
    health_event_out,
    health_probe_out,
    health_result_out,
    replica_health_out,
)

HISTORY_SPAN = timedelta(hours=24)


class HealthQuery(m.Model):
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=500)


class HealthHistoryQuery(m.Model):
    since: datetime | None = Field(
        default=None, description="Default: 24 hours before until (results are kept 24 hours)"
    )
    until: datetime | None = Field(default=None, description="Default: now")
    limit: int = Field(default=5000, ge=1, le=50000, description="At most this many probe results, the newest")


def endpoints(ctx: Context) -> list[Endpoint]:
    async def health(call: Call) -> Any:
        q: HealthQuery = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        replicas = ctx.c.health_monitor.health_state(svc.id) if ctx.c.health_monitor is not None else []
        records = []
        if ctx.c.health is not None:
            records = await ctx.c.health.list_health(
                HealthRecordFilter(service_id=svc.id, since=q.since, limit=q.limit, events=False)
            )
        if replicas:
            status = "healthy" if all(r.healthy for r in replicas) else "unhealthy"
        elif records:
            status = "healthy" if records[0].result.ok else "unhealthy"
        else:
            status = "unknown"
        return {
            "service_id": svc.id,
            "status": status,
            "replicas": [replica_health_out(r) for r in replicas],
            "results": [health_result_out(r.container_id, r.result) for r in records],
        }

    async def history(call: Call) -> Any:
        q: HealthHistoryQuery = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        if ctx.c.health is None:
            raise unavailable("Health records")
        until = _utc(q.until) if q.until is not None else ctx.c.clock.now()
        since = _utc(q.since) if q.since is not None else until - HISTORY_SPAN
        if until <= since:
            errors = FieldErrors()
            errors.add("until", "must be after since")
            errors.raise_if_any()
        filt = HealthRecordFilter(service_id=svc.id, since=since, until=until, limit=q.limit, events=False)
        probes = await ctx.c.health.list_health(filt)
        events = await ctx.c.health.list_health(
            HealthRecordFilter(service_id=svc.id, since=since, until=until, limit=q.limit, events=True)
        )
        return {
            "service_id": svc.id,
            "since": since,
            "until": until,
            "probes": [health_probe_out(r) for r in reversed(probes)],
            "events": [health_event_out(r) for r in reversed(events)],
            "truncated": len(probes) >= q.limit,
        }

    svc_path = "/projects/{project_id}/services/{service_id}"
    return [
        Endpoint(
            "GET",
            svc_path + "/health",
            health,
            "The service's current health and recent check results",
            "traffic",
            query=HealthQuery,
            response=ServiceHealthOut,
            errors=(404, 422),
        ),
        Endpoint(
            "GET",
            svc_path + "/health/history",
            history,
            "The service's probe results per replica and the monitor's held-out, restart and rejoin events",
            "traffic",
            query=HealthHistoryQuery,
            response=HealthHistoryOut,
            errors=(404, 422, 503),
        ),
    ]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
