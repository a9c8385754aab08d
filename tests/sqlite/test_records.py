"""Containers, domains, webhooks and health records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from deploykit.build import DeployKeyPair
from deploykit.bus import EventType
from deploykit.container import ContainerFilter, ContainerRecord
from deploykit.deployment import DeploymentFilter
from deploykit.errors import Error
from deploykit.health import HealthEvent, HealthRecord, HealthRecordFilter, HealthResult
from deploykit.ingress import TLSStatus
from deploykit.pending_change import ChangeKind
from deploykit.project import Project
from deploykit.service import Service
from deploykit.webhook import DeliveryStatus, Provider, WebhookDelivery
from deploykit_sqlite import Store
from tests.sqlite.support import ManualClock, RecordingBus, deploy_services, image_service, stage

GIT = {"type": "git", "repo_url": "https://example.com/acme/app.git", "branch": "main"}


@pytest.fixture
async def service(store: Store, project: Project) -> Service:
    [svc], _ = await deploy_services(store, project.id, image_service("api", port=8080))
    return svc


# --- containers ----------------------------------------------------------------------------------


async def test_upsert_container_inserts_then_updates_and_publishes_once(
    store: Store, service: Service, bus: RecordingBus
) -> None:
    deployments, _ = await store.deployments.list_deployments(DeploymentFilter(service_id=service.id))
    record = ContainerRecord(
        id="c1",
        name="dk-x",
        project_id="ignored",
        service_id=service.id,
        deployment_id=deployments[0].id,
        replica_index=0,
    )
    bus.clear()
    saved = await store.containers.upsert_container(record)
    assert (saved.project_id, saved.state) == (service.project_id, "created")
    record.state, record.restart_count = "running", 2
    updated = await store.containers.upsert_container(record)
    assert (updated.state, updated.restart_count, updated.created_at) == ("running", 2, saved.created_at)
    assert bus.types() == [EventType.CONTAINER_CREATED]
    assert [c.id for c in await store.containers.list_containers(ContainerFilter(service_id=service.id))] == ["c1"]
    assert await store.containers.list_containers(ContainerFilter(deployment_id="other")) == []
    await store.containers.delete_container("c1")
    await store.containers.delete_container("c1")
    assert bus.types() == [EventType.CONTAINER_CREATED, EventType.CONTAINER_DELETED]
    assert await store.containers.list_containers(ContainerFilter()) == []


async def test_upsert_container_for_unknown_service(store: Store) -> None:
    with pytest.raises(Error) as info:
        await store.containers.upsert_container(
            ContainerRecord(id="c1", name="n", project_id="p", service_id="nope", deployment_id="d", replica_index=0)
        )
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")


# --- domains -------------------------------------------------------------------------------------


async def test_generated_domain_first_then_custom(store: Store, project: Project, service: Service) -> None:
    custom = await store.domains.add_domain(service.id, "  API.Example.com. ")
    assert (custom.hostname, custom.is_generated, custom.tls_status) == ("api.example.com", False, TLSStatus.PENDING)
    await store.domains.add_domain(service.id, "a.example.com")
    listed = [d.hostname for d in await store.domains.list_domains(service.id)]
    assert listed == [f"api-{project.slug}.example.test", "a.example.com", "api.example.com"]


@pytest.mark.parametrize(
    ("hostname", "code", "message"),
    [
        ("localhost", "invalid", "hostname: must be a hostname such as 'app.example.com'"),
        ("http://x.com", "invalid", "hostname: must be a hostname such as 'app.example.com'"),
        ("taken.example.com", "conflict", "The hostname 'taken.example.com' is already in use."),
    ],
)
async def test_add_domain_errors(
    store: Store, project: Project, service: Service, hostname: str, code: str, message: str
) -> None:
    [other], _ = await deploy_services(store, project.id, image_service("other"))
    await store.domains.add_domain(other.id, "taken.example.com")
    with pytest.raises(Error) as info:
        await store.domains.add_domain(service.id, hostname)
    assert (info.value.code, info.value.message) == (code, message)


async def test_delete_domain_rules(store: Store, project: Project, service: Service) -> None:
    await store.domains.add_domain(service.id, "api.example.com")
    await store.domains.delete_domain(service.id, "API.example.com")
    for hostname, code, message in [
        ("api.example.com", "not_found", "Domain not found."),
        (f"api-{project.slug}.example.test", "invalid", "The generated domain cannot be removed."),
    ]:
        with pytest.raises(Error) as info:
            await store.domains.delete_domain(service.id, hostname)
        assert (info.value.code, info.value.message) == (code, message)
    with pytest.raises(Error) as info:
        await store.domains.list_domains("nope")
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")


async def test_generated_domain_follows_the_port(store: Store, project: Project, service: Service) -> None:
    await stage(store, project.id, ChangeKind.SERVICE_UPDATE, {"port": None}, target_id=service.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert await store.domains.list_domains(service.id) == []
    await stage(store, project.id, ChangeKind.SERVICE_UPDATE, {"port": 9000}, target_id=service.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    [domain] = await store.domains.list_domains(service.id)
    assert domain.is_generated


async def test_update_domain_status(store: Store, project: Project, service: Service) -> None:
    hostname = f"api-{project.slug}.example.test"
    updated = await store.domains.update_domain_status(hostname, dns_ok=True, tls_status=TLSStatus.ACTIVE)
    assert (updated.dns_ok, updated.tls_status) == (True, TLSStatus.ACTIVE)
    with pytest.raises(Error) as info:
        await store.domains.update_domain_status("nope.example.com", dns_ok=None, tls_status=TLSStatus.NONE)
    assert (info.value.code, info.value.message) == ("not_found", "Domain not found.")


# --- webhooks ------------------------------------------------------------------------------------


async def test_webhook_lifecycle_and_deliveries(store: Store, project: Project, clock: ManualClock) -> None:
    [app], _ = await deploy_services(store, project.id, {"name": "app", "source": GIT})
    hook = await store.webhooks.create_webhook(app.id, Provider.GITHUB)
    assert len(hook.secret) == 64
    assert await store.webhooks.get_webhook(hook.id) == hook
    replaced = await store.webhooks.create_webhook(app.id, Provider.GITLAB)
    assert replaced.secret != hook.secret
    assert (await store.webhooks.get_service_webhook(app.id)).provider == Provider.GITLAB
    first = await store.webhooks.record_delivery(
        WebhookDelivery(
            id="", webhook_id=replaced.id, event="push", status=DeliveryStatus.SUCCESS, delivery_key="k1", branch="main"
        )
    )
    clock.advance(timedelta(seconds=1))
    second = await store.webhooks.record_delivery(
        WebhookDelivery(
            id="", webhook_id=replaced.id, event="push", status=DeliveryStatus.SKIPPED, reason="other branch"
        )
    )
    assert first.delivered_at == clock.now() - timedelta(seconds=1)
    assert [d.id for d in await store.webhooks.list_deliveries(replaced.id)] == [second.id, first.id]
    with pytest.raises(Error) as info:
        await store.webhooks.record_delivery(
            WebhookDelivery(
                id="", webhook_id=replaced.id, event="push", status=DeliveryStatus.SUCCESS, delivery_key="k1"
            )
        )
    assert (info.value.code, info.value.message) == ("conflict", "This delivery was already received.")
    assert await store.webhooks.get_delivery(replaced.id, first.id) == first
    with pytest.raises(Error) as missing:
        await store.webhooks.get_delivery(hook.id, first.id)
    assert (missing.value.code, missing.value.message) == ("not_found", "Delivery not found.")
    disabled = await store.webhooks.update_webhook(app.id, enabled=False)
    assert (disabled.id, disabled.enabled) == (replaced.id, False)
    assert (await store.webhooks.get_webhook(replaced.id)).enabled is False
    await store.webhooks.delete_webhook(app.id)
    for call in (
        store.webhooks.delete_webhook(app.id),
        store.webhooks.get_webhook(replaced.id),
        store.webhooks.get_service_webhook(app.id),
    ):
        with pytest.raises(Error) as info:
            await call
        assert (info.value.code, info.value.message) == ("not_found", "Webhook not found.")


async def test_webhook_needs_a_git_service(store: Store, service: Service) -> None:
    with pytest.raises(Error) as info:
        await store.webhooks.create_webhook(service.id, Provider.GITHUB)
    assert (info.value.code, info.value.message) == (
        "invalid",
        "Only a service built from git can have a push webhook.",
    )
    with pytest.raises(Error) as info:
        await store.webhooks.create_webhook("nope", Provider.GITHUB)
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")


# --- health records ------------------------------------------------------------------------------


async def test_health_records_newest_first_since_and_prune(store: Store, service: Service, clock: ManualClock) -> None:
    start = clock.now()
    for i in range(4):
        await store.health.record_health(
            HealthRecord(
                service_id=service.id,
                container_id="c1",
                result=HealthResult(
                    ok=i % 2 == 0, latency_ms=float(i), status_code=200, checked_at=start + timedelta(minutes=i)
                ),
            )
        )
    records = await store.health.list_health(HealthRecordFilter(service_id=service.id))
    assert [r.result.latency_ms for r in records] == [3.0, 2.0, 1.0, 0.0]
    assert records[0].result.ok is False
    assert records[1].result.ok is True
    recent = await store.health.list_health(
        HealthRecordFilter(service_id=service.id, since=start + timedelta(minutes=2), limit=1)
    )
    assert [r.result.latency_ms for r in recent] == [3.0]
    assert await store.health.prune_health(start + timedelta(minutes=2)) == 2
    assert len(await store.health.list_health(HealthRecordFilter(service_id=service.id))) == 2
    with pytest.raises(Error) as info:
        await store.health.record_health(
            HealthRecord(service_id="nope", container_id="c", result=HealthResult(ok=True, latency_ms=1))
        )
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")


# --- deploy keys ---------------------------------------------------------------------------------


async def test_health_history_keeps_replicas_and_events_apart_from_probes(
    store: Store, service: Service, clock: ManualClock
) -> None:
    at = clock.now()
    probe = HealthRecord(service.id, "c1", HealthResult(False, 2.0, 503, checked_at=at), replica_index=1)
    event = HealthRecord(
        service.id,
        "c1",
        HealthResult(False, 0.0, error="failed 3", checked_at=at),
        replica_index=1,
        event=HealthEvent.HELD_OUT,
    )
    await store.health.record_health(probe)
    await store.health.record_health(event)
    later = at + timedelta(minutes=1)
    await store.health.record_health(HealthRecord(service.id, "c1", HealthResult(True, 1.0, checked_at=later)))

    probes = await store.health.list_health(HealthRecordFilter(service_id=service.id, events=False, until=later))
    events = await store.health.list_health(HealthRecordFilter(service_id=service.id, events=True))
    assert [(r.replica_index, r.event, r.result.status_code) for r in probes] == [(1, None, 503)]
    assert [(r.replica_index, r.event, r.result.error) for r in events] == [(1, HealthEvent.HELD_OUT, "failed 3")]
    assert len(await store.health.list_health(HealthRecordFilter(service_id=service.id))) == 3


async def test_deploy_keys_are_sealed_rotated_and_removed(store: Store, project: Project) -> None:
    [app], _ = await deploy_services(store, project.id, {"name": "app", "source": GIT})
    pair = DeployKeyPair(public_key="ssh-ed25519 AAAA app", fingerprint="SHA256:x", private_key="-----PRIVATE-----")
    await store.deploy_keys.set_deploy_key(app.id, pair)
    assert await store.deploy_keys.get_deploy_key(app.id) == pair
    async with store.db.read() as tx:
        raw = await tx.scalar("SELECT private_key FROM deploy_keys WHERE service_id = ?", (app.id,))
    assert b"PRIVATE" not in raw
    rotated = DeployKeyPair(public_key="ssh-ed25519 BBBB app", fingerprint="SHA256:y", private_key="other")
    await store.deploy_keys.set_deploy_key(app.id, rotated)
    assert await store.deploy_keys.get_deploy_key(app.id) == rotated
    await store.deploy_keys.delete_deploy_key(app.id)
    for call in (store.deploy_keys.get_deploy_key(app.id), store.deploy_keys.delete_deploy_key(app.id)):
        with pytest.raises(Error) as info:
            await call
        assert (info.value.code, info.value.message) == ("not_found", "Deploy key not found.")
    with pytest.raises(Error) as info:
        await store.deploy_keys.set_deploy_key("nope", pair)
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")


async def test_known_hosts_are_pinned_per_service_and_replaced(store: Store, project: Project) -> None:
    [app], _ = await deploy_services(store, project.id, {"name": "app", "source": GIT})
    assert await store.deploy_keys.get_known_hosts(app.id) is None
    await store.deploy_keys.set_known_hosts(app.id, "[127.0.0.1]:2222 ssh-ed25519 AAAA1\n")
    await store.deploy_keys.set_known_hosts(app.id, "[127.0.0.1]:2222 ssh-ed25519 AAAA2\n")
    assert await store.deploy_keys.get_known_hosts(app.id) == "[127.0.0.1]:2222 ssh-ed25519 AAAA2\n"
    with pytest.raises(Error) as info:
        await store.deploy_keys.set_known_hosts("nope", "x")
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")


async def test_a_delivery_is_found_by_its_key_and_unkeyed_ones_are_a_bounded_history(
    store: Store, project: Project
) -> None:
    from deploykit_sqlite.webhook import UNKEYED_KEPT

    [app], _ = await deploy_services(store, project.id, {"name": "app", "source": GIT})
    hook = await store.webhooks.create_webhook(app.id, Provider.GITHUB)
    other = await store.webhooks.create_webhook(
        (await deploy_services(store, project.id, {"name": "other", "source": GIT}))[0][0].id, Provider.GITHUB
    )
    keyed = await store.webhooks.record_delivery(
        WebhookDelivery(id="", webhook_id=hook.id, event="push", status=DeliveryStatus.SUCCESS, delivery_key="k1")
    )
    assert await store.webhooks.find_delivery(hook.id, "k1") == keyed
    assert await store.webhooks.find_delivery(other.id, "k1") is None
    assert await store.webhooks.find_delivery(hook.id, "k2") is None

    # Refused (unsigned) deliveries carry no key: only the newest UNKEYED_KEPT of them stay, and
    # they never push out a keyed delivery, whose key is what stops a replay.
    for i in range(UNKEYED_KEPT + 20):
        await store.webhooks.record_delivery(
            WebhookDelivery(id="", webhook_id=hook.id, event="push", status=DeliveryStatus.FAILED, reason=f"bad {i}")
        )
    await store.webhooks.record_delivery(
        WebhookDelivery(id="", webhook_id=other.id, event="push", status=DeliveryStatus.FAILED, reason="other")
    )
    kept = await store.webhooks.list_deliveries(hook.id, limit=1000)
    unkeyed = [d for d in kept if d.delivery_key is None]
    assert len(unkeyed) == UNKEYED_KEPT
    assert unkeyed[0].reason == f"bad {UNKEYED_KEPT + 19}"
    assert unkeyed[-1].reason == "bad 20"
    assert await store.webhooks.find_delivery(hook.id, "k1") == keyed
    assert [d.reason for d in await store.webhooks.list_deliveries(other.id)] == ["other"]


async def test_a_signed_body_is_found_by_its_hash_unless_it_failed_and_is_never_pruned(
    store: Store, project: Project
) -> None:
    from deploykit_sqlite.webhook import UNKEYED_KEPT

    [app], _ = await deploy_services(store, project.id, {"name": "app", "source": GIT})
    hook = await store.webhooks.create_webhook(app.id, Provider.GITHUB)

    def delivery(status: DeliveryStatus, body: str | None, reason: str = "") -> WebhookDelivery:
        return WebhookDelivery(id="", webhook_id=hook.id, event="push", status=status, body_sha256=body, reason=reason)

    failed = await store.webhooks.record_delivery(delivery(DeliveryStatus.FAILED, "b" * 64))
    assert failed.body_sha256 == "b" * 64
    assert await store.webhooks.find_delivery_by_body(hook.id, "b" * 64) is None  # a retry may act
    deployed = await store.webhooks.record_delivery(delivery(DeliveryStatus.SUCCESS, "a" * 64))
    for i in range(UNKEYED_KEPT + 5):  # replays and refusals: a bounded history
        await store.webhooks.record_delivery(delivery(DeliveryStatus.SKIPPED, None, f"replay {i}"))
    assert await store.webhooks.find_delivery_by_body(hook.id, "a" * 64) == deployed
