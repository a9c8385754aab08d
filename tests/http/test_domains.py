"""A service's domains and health over fakes: what each request stores and answers (the
reconciler hears of a domain change from the store's event, never from a handler)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from deploykit.errors import CONFLICT, INVALID, Error
from deploykit.health import HealthEvent, HealthRecord, HealthRecordFilter, HealthResult, ReplicaHealth
from deploykit.ingress import Domain, DomainCheck, TLSStatus
from deploykit_http.app import build_app
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for
from tests.http.fakes import FakeRestarter, World, fake

CREATED = datetime(2026, 1, 2, tzinfo=UTC)
GENERATED = Domain("api-shop.localhost", "p1", "s1", is_generated=True, created_at=CREATED)
CUSTOM = Domain("shop.example.com", "p1", "s1", created_at=CREATED)

FakeDomains = fake(
    "FakeDomains", "list_domains", "list_all_domains", "add_domain", "delete_domain", "update_domain_status"
)
FakeChecker = fake("FakeChecker", "check_domain")
FakeHealth = fake("FakeHealth", "record_health", "list_health", "prune_health")
FakeMonitor = fake("FakeMonitor", sync=("health_state",))


@dataclasses.dataclass
class Traffic:
    world: World
    domains: Any = dataclasses.field(default_factory=FakeDomains)
    checker: Any = dataclasses.field(default_factory=FakeChecker)
    health: Any = dataclasses.field(default_factory=FakeHealth)
    monitor: Any = dataclasses.field(default_factory=FakeMonitor)
    stored: list[tuple[str, bool | None, TLSStatus]] = dataclasses.field(default_factory=list)

    def app(self, **without: Any) -> Any:
        c = dataclasses.replace(
            self.world.collaborators(),
            domains=self.domains,
            domain_checker=self.checker,
            health=self.health,
            health_monitor=self.monitor,
        )
        return build_app(dataclasses.replace(c, **without), HTTPSettings())


@pytest.fixture
def traffic(world: World) -> Traffic:
    t = Traffic(world)
    world.restarter = FakeRestarter()  # any call fails the request: the store's events reroute
    t.checker.check_domain_fn = lambda hostname: DomainCheck(hostname, True, TLSStatus.ACTIVE)

    def update(hostname: str, *, dns_ok: bool | None, tls_status: TLSStatus) -> Domain:
        t.stored.append((hostname, dns_ok, tls_status))
        known = GENERATED if hostname == GENERATED.hostname else dataclasses.replace(CUSTOM, hostname=hostname)
        return dataclasses.replace(known, dns_ok=dns_ok, tls_status=tls_status)

    t.domains.update_domain_status_fn = update
    return t


async def test_listing_domains_refreshes_and_stores_their_dns_and_tls_status(traffic: Traffic) -> None:
    fresh = dataclasses.replace(CUSTOM, dns_ok=True, tls_status=TLSStatus.ACTIVE)
    traffic.domains.list_domains_fn = lambda service_id: [GENERATED, fresh]
    async with client_for(traffic.app()) as c:
        r = await c.get("/projects/p1/services/s1/domains")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [
        {
            "hostname": "api-shop.localhost",
            "is_generated": True,
            "dns_ok": True,
            "tls_status": "active",
            "created_at": "2026-01-02T00:00:00Z",
        },
        {
            "hostname": "shop.example.com",
            "is_generated": False,
            "dns_ok": True,
            "tls_status": "active",
            "created_at": "2026-01-02T00:00:00Z",
        },
    ]
    assert traffic.stored == [("api-shop.localhost", True, TLSStatus.ACTIVE)]  # only what changed


async def test_adding_a_domain_stores_it_normalized_and_reroutes_the_service(traffic: Traffic) -> None:
    added: list[tuple[str, str]] = []

    def add(service_id: str, hostname: str, *, generated: bool = False) -> Domain:
        added.append((service_id, hostname))
        return dataclasses.replace(CUSTOM, hostname=hostname)

    traffic.domains.add_domain_fn = add
    async with client_for(traffic.app()) as c:
        r = await c.post("/projects/p1/services/s1/domains", json={"hostname": " Shop.Example.COM. "})
    assert r.status_code == 201, r.text
    assert r.json()["hostname"] == "shop.example.com"
    assert r.json()["tls_status"] == "active"
    assert added == [("s1", "shop.example.com")]


@pytest.mark.parametrize(
    ("body", "status", "error", "fields"),
    [
        (
            {"hostname": "no_underscores.example.com"},
            422,
            "invalid",
            {"hostname": ["must be a hostname such as 'app.example.com'"]},
        ),
        ({"hostname": "localhost"}, 422, "invalid", {"hostname": ["must be a hostname such as 'app.example.com'"]}),
        ({"hostname": "10.0.0.1"}, 422, "invalid", {"hostname": ["must be a name, not an IP address"]}),
        ({}, 422, "invalid", {"hostname": ["Field required"]}),
    ],
)
async def test_adding_a_bad_hostname_is_refused(
    traffic: Traffic, body: dict[str, Any], status: int, error: str, fields: dict[str, list[str]]
) -> None:
    async with client_for(traffic.app()) as c:
        r = await c.post("/projects/p1/services/s1/domains", json=body)
    assert (r.status_code, r.json()["error"], r.json()["fields"]) == (status, error, fields)


async def test_a_hostname_another_service_uses_is_a_conflict(traffic: Traffic) -> None:
    def taken(service_id: str, hostname: str, *, generated: bool = False) -> Domain:
        raise Error(CONFLICT, "The hostname is already used by another service.")

    traffic.domains.add_domain_fn = taken
    async with client_for(traffic.app()) as c:
        r = await c.post("/projects/p1/services/s1/domains", json={"hostname": "shop.example.com"})
    assert (r.status_code, r.json()) == (
        409,
        {"error": "conflict", "message": "The hostname is already used by another service."},
    )


async def test_removing_a_domain_reroutes_and_the_generated_one_stays(traffic: Traffic) -> None:
    removed: list[str] = []

    def delete(service_id: str, hostname: str) -> None:
        if hostname == GENERATED.hostname:
            raise Error(INVALID, "The generated domain cannot be removed.")
        removed.append(hostname)

    traffic.domains.delete_domain_fn = delete
    async with client_for(traffic.app()) as c:
        gone = await c.delete("/projects/p1/services/s1/domains/Shop.Example.com")
        kept = await c.delete("/projects/p1/services/s1/domains/api-shop.localhost")
    assert gone.status_code == 204
    assert (kept.status_code, kept.json()["message"]) == (400, "The generated domain cannot be removed.")
    assert removed == ["shop.example.com"]


async def test_domains_of_a_service_in_another_project_are_not_found(traffic: Traffic) -> None:
    async with client_for(traffic.app()) as c:
        r = await c.get("/projects/p2/services/s1/domains")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_domains_without_a_domain_store_are_unavailable(traffic: Traffic) -> None:
    async with client_for(traffic.app(domains=None)) as c:
        r = await c.get("/projects/p1/services/s1/domains")
    assert (r.status_code, r.json()["error"]) == (503, "unavailable")


def replica(healthy: bool) -> ReplicaHealth:
    return ReplicaHealth("s1", "d1", "c1", 0, healthy, last_result=HealthResult(healthy, 1.5, 200 if healthy else 500))


def record(ok: bool) -> HealthRecord:
    return HealthRecord("s1", "c1", HealthResult(ok, 2.0, 200 if ok else None, None if ok else "refused", CREATED))


@pytest.mark.parametrize(
    ("replicas", "records", "status"),
    [
        ([replica(True)], [record(True)], "healthy"),
        ([replica(True), replica(False)], [record(False)], "unhealthy"),
        ([], [record(False)], "unhealthy"),
        ([], [], "unknown"),
    ],
)
async def test_health_answers_the_current_state_and_recent_results(
    traffic: Traffic, replicas: list[ReplicaHealth], records: list[HealthRecord], status: str
) -> None:
    asked: list[HealthRecordFilter] = []
    traffic.monitor.health_state_fn = lambda service_id: replicas

    def list_health(filt: HealthRecordFilter) -> list[HealthRecord]:
        asked.append(filt)
        return records

    traffic.health.list_health_fn = list_health
    async with client_for(traffic.app()) as c:
        r = await c.get("/projects/p1/services/s1/health", params={"limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == status
    assert [x["healthy"] for x in body["replicas"]] == [x.healthy for x in replicas]
    assert [x["ok"] for x in body["results"]] == [x.result.ok for x in records]
    assert asked == [HealthRecordFilter(service_id="s1", since=None, limit=5, events=False)]


async def test_health_history_answers_probes_and_events_of_the_last_day_oldest_first(traffic: Traffic) -> None:
    at = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    probes = [
        HealthRecord("s1", "c1", HealthResult(False, 3.0, 500, checked_at=at), replica_index=0),
        HealthRecord("s1", "c1", HealthResult(True, 1.5, 200, checked_at=at), replica_index=0),
    ]
    events = [
        HealthRecord(
            "s1", "c1", HealthResult(False, 0.0, error="/ failed 3", checked_at=at), 0, 0, HealthEvent.HELD_OUT
        )
    ]
    asked: list[HealthRecordFilter] = []

    def list_health(filt: HealthRecordFilter) -> list[HealthRecord]:
        asked.append(filt)
        return events if filt.events else probes

    traffic.health.list_health_fn = list_health
    async with client_for(traffic.app()) as c:
        r = await c.get("/projects/p1/services/s1/health/history")
        bad = await c.get(
            "/projects/p1/services/s1/health/history", params={"since": "2026-01-01T00:00:00Z", "until": "2025-12-31"}
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["since"], body["until"], body["truncated"]) == ("2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z", False)
    assert [(p["ok"], p["replica_index"], p["reason"]) for p in body["probes"]] == [
        (True, 0, None),
        (False, 0, "HTTP 500"),
    ]
    assert body["events"] == [
        {
            "at": "2025-12-31T23:00:00Z",
            "replica_index": 0,
            "container_id": "c1",
            "event": "held_out",
            "reason": "/ failed 3",
        }
    ]
    assert [(f.events, f.since, f.until) for f in asked] == [
        (False, datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        (True, datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    ]
    assert (bad.status_code, list(bad.json()["fields"])) == (422, ["until"])
