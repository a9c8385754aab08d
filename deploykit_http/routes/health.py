"""A service's health: the state of its replicas as the health monitor sees them, and recent
check results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from deploykit.health import HealthRecordFilter
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.shapes.traffic import ServiceHealthOut, health_result_out, replica_health_out


class HealthQuery(m.Model):
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=500)


def endpoints(ctx: Context) -> list[Endpoint]:
    async def health(call: Call) -> Any:
        q: HealthQuery = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        replicas = ctx.c.health_monitor.health_state(svc.id) if ctx.c.health_monitor is not None else []
        records = []
        if ctx.c.health is not None:
            records = await ctx.c.health.list_health(
                HealthRecordFilter(service_id=svc.id, since=q.since, limit=q.limit)
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
    ]
