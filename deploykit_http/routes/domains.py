"""A service's traffic: its domains (with live DNS/TLS status), its health checks, its metrics.

Domain changes reach the proxy through the reconciler: the handler stores the change and triggers
the service, whose next converge sends the route with its new hostnames in one admin change.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from deploykit.errors import NOT_FOUND, UNAVAILABLE, Error, FieldErrors, error_code
from deploykit.health import HealthRecordFilter
from deploykit.ingress import Domain, DomainService, normalize_hostname, validate_hostname
from deploykit.runtime import ContainerStats
from deploykit.service import Service
from deploykit_http import models as m
from deploykit_http import render
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.errors import unavailable

STATUS_CHECK_TIMEOUT_S = 5.0
"""A listing never waits longer than this for DNS/TLS probes; slower ones keep their stored status."""


class DomainIn(m.Body):
    hostname: str = Field(examples=["app.example.com"])


class DomainOut(m.Model):
    hostname: str
    is_generated: bool
    dns_ok: bool | None
    tls_status: Literal["pending", "active", "internal", "failed", "none"]
    created_at: datetime | None


class DomainList(m.Model):
    data: list[DomainOut]


class HealthResultOut(m.Model):
    container_id: str
    ok: bool
    latency_ms: float
    status_code: int | None
    error: str | None
    checked_at: datetime | None


class ReplicaHealthOut(m.Model):
    container_id: str
    deployment_id: str
    replica_index: int
    healthy: bool
    consecutive_failures: int
    consecutive_successes: int
    restarts: int
    last_result: HealthResultOut | None
    since: datetime | None


class HealthOut(m.Model):
    service_id: str
    status: Literal["healthy", "unhealthy", "unknown"]
    """unknown: no health check, no healthy deployment, or nothing probed yet."""
    replicas: list[ReplicaHealthOut]
    results: list[HealthResultOut]
    """Recent probe results (kept 24 hours), newest first."""


class HealthQuery(m.Model):
    since: datetime | None = None
    limit: int = Field(default=100, ge=1, le=500)


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


@dataclass
class MetricsRing:
    """Container stats sampled only while someone asks: each request takes one sample of the
    service's running containers (at most one per ``min_interval_s``) and keeps the last
    ``size`` per service, for the last ``max_services`` services asked about."""

    size: int = 360
    min_interval_s: float = 2.0
    max_services: int = 100
    _rings: dict[str, deque[ContainerStats]] = field(default_factory=dict)
    _sampled_at: dict[str, float] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def samples(self, ctx: Context, service_id: str) -> list[ContainerStats]:
        lock = self._locks.setdefault(service_id, asyncio.Lock())
        async with lock:
            now = ctx.c.clock.monotonic()
            if now - self._sampled_at.get(service_id, -1e9) >= self.min_interval_s:
                await self._sample(ctx, service_id)
                self._sampled_at[service_id] = now
        return list(self._rings.get(service_id, ()))

    async def _sample(self, ctx: Context, service_id: str) -> None:
        runtime = ctx.runtime()
        running = [c for c in await runtime.list_containers() if c.service_id == service_id and c.running]
        found = await asyncio.gather(*(runtime.stats(c.id) for c in running), return_exceptions=True)
        ring = self._rings.pop(service_id, None) or deque(maxlen=self.size)
        self._rings[service_id] = ring  # most recently asked last
        now = ctx.c.clock.now()
        for stats in found:
            if isinstance(stats, ContainerStats):
                ring.append(stats if stats.at is not None else replace(stats, at=now))
        while len(self._rings) > self.max_services:
            oldest = next(iter(self._rings))
            for d in (self._rings, self._sampled_at, self._locks):
                d.pop(oldest, None)


def endpoints(ctx: Context) -> list[Endpoint]:
    metrics = MetricsRing()

    def domains() -> DomainService:
        if ctx.c.domains is None:
            raise unavailable("Domains")
        return ctx.c.domains

    async def refreshed(items: list[Domain]) -> list[Domain]:
        """Live DNS/TLS status from the checker, stored; a slow or missing checker leaves the
        stored status as it is."""
        checker = ctx.c.domain_checker
        if checker is None or not items:
            return items
        try:
            checks = await asyncio.wait_for(
                asyncio.gather(*(checker.check_domain(d.hostname) for d in items)), STATUS_CHECK_TIMEOUT_S
            )
        except TimeoutError:
            return items
        out = []
        for d, check in zip(items, checks, strict=True):
            if (check.dns_ok, check.tls_status) != (d.dns_ok, d.tls_status):
                try:
                    d = await domains().update_domain_status(
                        d.hostname, dns_ok=check.dns_ok, tls_status=check.tls_status
                    )
                except Error as exc:
                    if exc.code != NOT_FOUND:  # removed meanwhile
                        raise
            out.append(d)
        return out

    def reroute(svc: Service) -> None:
        if ctx.c.reconciler is not None:
            ctx.c.reconciler.trigger_service(svc.id)

    async def list_domains(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        items = await refreshed(await domains().list_domains(svc.id))
        return {"data": [render.domain(d) for d in items]}

    async def add_domain(call: Call) -> Any:
        body: DomainIn = call.body
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        errors = FieldErrors()
        validate_hostname(body.hostname, errors)
        errors.raise_if_any()
        d = await domains().add_domain(svc.id, normalize_hostname(body.hostname))
        reroute(svc)
        [d] = await refreshed([d])
        return render.domain(d)

    async def delete_domain(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        await domains().delete_domain(svc.id, normalize_hostname(call.params["hostname"]))
        reroute(svc)
        return None

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
            "replicas": [render.replica_health(r) for r in replicas],
            "results": [render.health_result(r.container_id, r.result) for r in records],
        }

    async def service_metrics(call: Call) -> Any:
        q: MetricsQuery = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        try:
            samples = await metrics.samples(ctx, svc.id)
        except Exception as exc:
            if error_code(exc) == UNAVAILABLE:
                raise unavailable("The container runtime") from exc
            raise
        if q.since is not None:
            since = q.since
            samples = [s for s in samples if s.at is not None and _comparable(s.at) >= _comparable(since)]
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

    tag = "traffic"
    svc_path = "/projects/{project_id}/services/{service_id}"
    return [
        Endpoint(
            "GET",
            svc_path + "/domains",
            list_domains,
            "A service's domains with live DNS and TLS status",
            tag,
            response=DomainList,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/domains",
            add_domain,
            "Add a custom domain (routed at once)",
            tag,
            body=DomainIn,
            response=DomainOut,
            status=201,
            errors=(404, 409, 422, 503),
        ),
        Endpoint(
            "DELETE",
            svc_path + "/domains/{hostname}",
            delete_domain,
            "Remove a custom domain (the generated one stays)",
            tag,
            status=204,
            errors=(400, 404, 503),
        ),
        Endpoint(
            "GET",
            svc_path + "/health",
            health,
            "The service's current health and recent check results",
            tag,
            query=HealthQuery,
            response=HealthOut,
            errors=(404, 422),
        ),
        Endpoint(
            "GET",
            svc_path + "/metrics",
            service_metrics,
            "CPU, memory and network samples of the service's running containers",
            tag,
            query=MetricsQuery,
            response=MetricsOut,
            errors=(404, 422, 503),
        ),
    ]


def _comparable(value: datetime) -> datetime:
    """Naive datetimes are UTC (the store's convention); aware ones compare as they are."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
