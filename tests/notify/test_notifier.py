"""The Notifier with the real store, the real bus and real receivers: a local HTTP server and an
aiosmtpd SMTP server, both started by the test."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploykit.backup_record import BackupOutcome, BackupRecordCreate, BackupStatus, BackupTrigger
from deploykit.bus import Event, EventType
from deploykit.errors import Error
from deploykit.notification import (
    SUBSCRIBABLE,
    ChannelCreate,
    ChannelFilter,
    ChannelKind,
    ChannelUpdate,
    DeliveryOutcome,
    NotificationKind,
)
from deploykit.project import ProjectCreate
from deploykit_events import EventBus
from deploykit_notify import SIGNATURE_HEADER, Notifier, NotifierSettings
from deploykit_sqlite import Store
from tests.notify.receivers import http_receiver, self_signed_cert, smtp_receiver
from tests.sqlite.support import deploy_services, image_service
from tests.wait import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SECRET = "hmac-secret-for-tests"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Store, EventBus, Notifier]]:
    bus = EventBus()
    store = Store(path=str(tmp_path / "dk.db"), data_dir=tmp_path, bus=bus, bcrypt_rounds=4)
    await store.open()
    notifier = Notifier(
        bus=bus,
        channels=store.notification_channels,
        projects=store.projects,
        services=store.services,
        deployments=store.deployments,
        settings=NotifierSettings(public_url="https://deploy.example.com", attempts=3, backoff_s=0.01),
    )
    await notifier.start()
    try:
        yield store, bus, notifier
    finally:
        await notifier.close()
        await store.close()
        bus.close()


def failed(project_id: str | None, reason: str = "exited with code 3") -> Event:
    return Event(
        EventType.DEPLOYMENT_FAILED,
        project_id=project_id,
        service_id=None,
        payload={"deployment_id": "dep-12345678", "status": "failed", "reason": reason},
    )


async def test_a_failed_deployment_reaches_a_webhook_signed_with_hmac_sha256(
    world: tuple[Store, EventBus, Notifier],
) -> None:
    store, _, notifier = world
    project = await store.projects.create_project(ProjectCreate(name="Shop"))
    with http_receiver() as rx:
        channel = await store.notification_channels.create_channel(
            ChannelCreate(
                name="ops", kind=ChannelKind.WEBHOOK, settings={"url": rx.base + "/hook"}, secrets={"secret": SECRET}
            )
        )
        [task] = await notifier.notify(failed(project.id))
        delivery = await task
        [req] = rx.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers[SIGNATURE_HEADER.lower()] == expected
    assert req.headers["x-deploykit-event"] == "deployment.failed"
    body = json.loads(req.body)
    assert {k: body[k] for k in ("event", "project", "project_id", "deployment")} == {
        "event": "deployment.failed",
        "project": "Shop",
        "project_id": project.id,
        "deployment": "dep-12345678",
    }
    assert body["message"] == "Deployment dep-1234 of A service failed: exited with code 3"
    assert body["url"] == f"https://deploy.example.com/projects/{project.id}"
    assert body["at"]
    assert (delivery.outcome, delivery.attempts, delivery.error) == (DeliveryOutcome.SUCCESS, 1, None)
    [recorded] = await store.notification_channels.list_deliveries(channel.id)
    assert (recorded.id, recorded.outcome, recorded.event) == (
        delivery.id,
        DeliveryOutcome.SUCCESS,
        NotificationKind.DEPLOYMENT_FAILED,
    )


async def test_a_refused_delivery_is_retried_with_backoff_and_recorded(
    world: tuple[Store, EventBus, Notifier],
) -> None:
    store, _, notifier = world
    with http_receiver() as rx:
        rx.statuses = [500, 503]  # then 200
        await store.notification_channels.create_channel(
            ChannelCreate(name="flaky", kind=ChannelKind.WEBHOOK, settings={"url": rx.base}, secrets={"secret": SECRET})
        )
        [task] = await notifier.notify(failed(None))
        ok = await task
        assert (ok.outcome, ok.attempts) == (DeliveryOutcome.SUCCESS, 3)
        assert len(rx.requests) == 3
        rx.statuses = [500, 500, 500]
        [task] = await notifier.notify(failed(None))
        bad = await task
    assert (bad.outcome, bad.attempts) == (DeliveryOutcome.FAILED, 3)
    assert bad.error == "The receiver answered HTTP 500: receiver says no"
    outcomes = [d.outcome for d in await store.notification_channels.list_deliveries(ok.channel_id)]
    assert sorted(outcomes) == [DeliveryOutcome.FAILED, DeliveryOutcome.SUCCESS]


async def test_an_unreachable_receiver_fails_without_showing_the_slack_url(
    world: tuple[Store, EventBus, Notifier],
) -> None:
    store, _, notifier = world
    url = "http://127.0.0.1:9/services/T000/B000/very-secret-token"
    channel = await store.notification_channels.create_channel(
        ChannelCreate(name="slack", kind=ChannelKind.SLACK, secrets={"url": url})
    )
    delivery = await notifier.send_test(channel.id)
    assert (delivery.outcome, delivery.attempts) == (DeliveryOutcome.FAILED, 1)
    assert delivery.error is not None
    assert delivery.error.startswith("The receiver could not be reached")
    assert "very-secret-token" not in delivery.error


@pytest.mark.parametrize(
    ("kind", "key"),
    [(ChannelKind.SLACK, "text"), (ChannelKind.DISCORD, "content")],
)
async def test_slack_and_discord_get_their_incoming_webhook_bodies(
    world: tuple[Store, EventBus, Notifier], kind: ChannelKind, key: str
) -> None:
    store, _, notifier = world
    with http_receiver() as rx:
        channel = await store.notification_channels.create_channel(
            ChannelCreate(name="chat", kind=kind, secrets={"url": rx.base + "/incoming"})
        )
        delivery = await notifier.send_test(channel.id)
        [req] = rx.requests
    assert delivery.outcome is DeliveryOutcome.SUCCESS
    assert req.path == "/incoming"
    text = json.loads(req.body)[key]
    assert "[DeployKit] test" in text
    assert "It works." in text


async def test_email_goes_over_smtp_with_auth(world: tuple[Store, EventBus, Notifier]) -> None:
    store, _, notifier = world
    project = await store.projects.create_project(ProjectCreate(name="Shop"))
    with smtp_receiver("mailer", "smtp-password") as smtp:
        await store.notification_channels.create_channel(
            ChannelCreate(
                name="mail",
                kind=ChannelKind.EMAIL,
                settings={
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "security": "none",
                    "username": "mailer",
                    "from_address": "deploykit@example.com",
                    "to": ["ops@example.com", "dev@example.com"],
                },
                secrets={"password": "smtp-password"},
            )
        )
        [task] = await notifier.notify(failed(project.id, reason="build failed: step 3 exited 1"))
        delivery = await task
        [message] = smtp.messages
    assert delivery.outcome is DeliveryOutcome.SUCCESS
    assert smtp.logins == ["mailer"]
    assert smtp.envelopes == [("deploykit@example.com", ["ops@example.com", "dev@example.com"])]
    assert message["Subject"] == "[DeployKit] build.failed: Shop"
    assert "The build of deployment dep-1234 of A service failed: step 3 exited 1" in message.get_payload()


async def test_a_wrong_smtp_password_is_a_failed_delivery(world: tuple[Store, EventBus, Notifier]) -> None:
    store, _, notifier = world
    with smtp_receiver("mailer", "right") as smtp:
        channel = await store.notification_channels.create_channel(
            ChannelCreate(
                name="mail",
                kind=ChannelKind.EMAIL,
                settings={
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "security": "none",
                    "username": "mailer",
                    "from_address": "deploykit@example.com",
                    "to": ["ops@example.com"],
                },
                secrets={"password": "wrong"},
            )
        )
        delivery = await notifier.send_test(channel.id)
    assert delivery.outcome is DeliveryOutcome.FAILED
    assert delivery.error is not None
    assert delivery.error.startswith("The mail server refused or failed")
    assert "wrong" not in delivery.error
    assert smtp.messages == []


async def test_channels_hear_their_project_and_opted_in_events_only(world: tuple[Store, EventBus, Notifier]) -> None:
    store, bus, notifier = world
    shop = await store.projects.create_project(ProjectCreate(name="Shop"))
    blog = await store.projects.create_project(ProjectCreate(name="Blog"))
    with http_receiver() as rx:
        for name, project_id in (("global", None), ("shop-only", shop.id)):
            await store.notification_channels.create_channel(
                ChannelCreate(
                    name=name,
                    kind=ChannelKind.WEBHOOK,
                    project_id=project_id,
                    settings={"url": f"{rx.base}/{name}"},
                    secrets={"secret": SECRET},
                )
            )
        healthy = Event(EventType.DEPLOYMENT_HEALTHY, project_id=shop.id, payload={"deployment_id": "d"})
        assert await notifier.notify(healthy) == []  # opt-in: nobody asked
        bus.publish(failed(blog.id))  # through the bus: the notifier's own subscription
        bus.publish(failed(shop.id))
        await wait_for(lambda: len(rx.requests) >= 3, within=20, message="three deliveries")
        await notifier.idle()
        assert sorted((r.path, json.loads(r.body)["project"]) for r in rx.requests) == [
            ("/global", "Blog"),
            ("/global", "Shop"),
            ("/shop-only", "Shop"),
        ]


async def test_channel_secrets_are_sealed_at_rest_and_merged_on_update(
    world: tuple[Store, EventBus, Notifier], tmp_path: Path
) -> None:
    store, _, _ = world
    channel = await store.notification_channels.create_channel(
        ChannelCreate(
            name="ops",
            kind=ChannelKind.WEBHOOK,
            settings={"url": "https://hooks.example.com"},
            secrets={"secret": SECRET},
        )
    )
    async with store.db.read() as tx:
        raw = await tx.fetchone("SELECT * FROM notification_channels WHERE id = ?", (channel.id,))
    assert raw is not None
    assert SECRET.encode() not in bytes(raw["secrets"])
    assert SECRET not in str(dict(raw))
    updated = await store.notification_channels.update_channel(channel.id, ChannelUpdate(name="ops-2"))
    assert (updated.name, updated.secrets) == ("ops-2", {"secret": SECRET})


@pytest.mark.parametrize(
    ("create", "fields"),
    [
        (ChannelCreate(name="", kind=ChannelKind.SLACK, secrets={"url": "https://x"}), {"name": ["is required"]}),
        (ChannelCreate(name="s", kind=ChannelKind.SLACK), {"secrets.url": ["is required"]}),
        (
            ChannelCreate(name="w", kind=ChannelKind.WEBHOOK, settings={"url": "ftp://x"}, secrets={"secret": "k"}),
            {"settings.url": ["must be an http(s) URL"]},
        ),
        (
            ChannelCreate(
                name="m",
                kind=ChannelKind.EMAIL,
                settings={"host": "h", "port": 70000, "from_address": "a@b", "to": ["nope"], "security": "ssl"},
            ),
            {
                "settings.port": ["must be a port number (1-65535)"],
                "settings.security": ["must be starttls, tls or none"],
                "settings.to": ["must be a non-empty list of e-mail addresses"],
            },
        ),
        (
            ChannelCreate(
                name="d", kind=ChannelKind.DISCORD, settings={"url": "https://x"}, secrets={"url": "https://x"}
            ),
            {"settings.url": ["is not a setting of a discord channel"]},
        ),
    ],
)
async def test_bad_channels_are_refused_field_by_field(
    world: tuple[Store, EventBus, Notifier], create: ChannelCreate, fields: dict[str, list[str]]
) -> None:
    store, _, _ = world
    with pytest.raises(Error) as exc:
        await store.notification_channels.create_channel(create)
    assert exc.value.code == "invalid"
    assert getattr(exc.value, "fields", None) == fields
    assert await store.notification_channels.list_channels(ChannelFilter()) == []


async def test_a_failed_backup_reaches_global_channels(world: tuple[Store, EventBus, Notifier]) -> None:
    store, _, notifier = world
    with http_receiver() as rx:
        await store.notification_channels.create_channel(
            ChannelCreate(name="ops", kind=ChannelKind.WEBHOOK, settings={"url": rx.base}, secrets={"secret": SECRET})
        )
        record = await store.backups.create_backup_record(BackupRecordCreate(trigger=BackupTrigger.SCHEDULED))
        # The store publishes backup.failed as the run's failure is recorded; the notifier hears it.
        await store.backups.finish_backup_record(
            record.id, BackupOutcome(status=BackupStatus.FAILED, error="S3 answered 403 AccessDenied")
        )
        await wait_for(lambda: rx.requests, within=20, message="the backup failure's delivery")
        await notifier.idle()
    body = json.loads(rx.requests[0].body)
    assert (body["event"], body["project"], body["message"]) == (
        "backup.failed",
        None,
        "A backup failed: S3 answered 403 AccessDenied",
    )
    assert body["details"]["backup_id"] == record.id


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_email_over_starttls_and_implicit_tls_checks_the_servers_certificate(
    world: tuple[Store, EventBus, Notifier], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    store, _, notifier = world
    cert = self_signed_cert(tmp_path)
    settings = {
        "host": "127.0.0.1",
        "security": security,
        "username": "mailer",
        "from_address": "deploykit@example.com",
        "to": ["ops@example.com"],
    }
    with smtp_receiver("mailer", "pw", tls=security, cert=cert) as smtp:
        channel = await store.notification_channels.create_channel(
            ChannelCreate(
                name="mail",
                kind=ChannelKind.EMAIL,
                settings={**settings, "port": smtp.port},
                secrets={"password": "pw"},
            )
        )
        untrusted = await notifier.send_test(channel.id)  # a certificate nobody vouches for
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client's trust store: this one certificate
        trusted = await notifier.send_test(channel.id)
        assert [m["Subject"] for m in smtp.messages] == ["[DeployKit] test"]
    assert untrusted.outcome is DeliveryOutcome.FAILED
    assert untrusted.error is not None
    assert "certificate" in untrusted.error.lower()
    assert trusted.outcome is DeliveryOutcome.SUCCESS
    assert smtp.logins == ["mailer"]


@pytest.mark.parametrize(
    ("type", "payload", "event", "message"),
    [
        (
            EventType.HEALTH_CHANGED,
            {"replica_index": 1, "healthy": False, "reason": "GET /health answered 500"},
            "service.unhealthy",
            "api replica 1 is unhealthy: GET /health answered 500",
        ),
        (
            EventType.HEALTH_CHANGED,
            {"replica_index": 1, "healthy": True, "reason": "passed 2 health check(s) in a row"},
            "service.recovered",
            "api replica 1 recovered: passed 2 health check(s) in a row",
        ),
        (
            EventType.SERVICE_CRASH_LOOP,
            {"replica_index": 0, "restarts": 3},
            "service.crash_loop",
            "api replica 0 is crash-looping (3 restarts in a short time).",
        ),
        (EventType.DEPLOYMENT_HEALTHY, {}, "deployment.healthy", "Deployment {short} of api is healthy and serving."),
    ],
)
async def test_health_crash_loops_and_healthy_deployments_are_told_by_service_name(
    world: tuple[Store, EventBus, Notifier], type: EventType, payload: dict[str, object], event: str, message: str
) -> None:
    store, _, notifier = world
    project = await store.projects.create_project(ProjectCreate(name="Shop"))
    [service], result = await deploy_services(store, project.id, image_service("api"))
    [deployment_id] = result.created_deployments
    with http_receiver() as rx:
        await store.notification_channels.create_channel(
            ChannelCreate(
                name="all",
                kind=ChannelKind.WEBHOOK,
                events=SUBSCRIBABLE,
                settings={"url": rx.base},
                secrets={"secret": SECRET},
            )
        )
        tasks = await notifier.notify(
            Event(type, project.id, service.id, payload={"deployment_id": deployment_id, **payload})
        )
        [delivery] = [await t for t in tasks]
    assert delivery.outcome is DeliveryOutcome.SUCCESS
    body = json.loads(rx.requests[0].body)
    assert (body["event"], body["service"], body["deployment"]) == (event, "api", deployment_id)
    assert body["message"] == message.format(short=deployment_id.replace("-", "")[:8])
    assert body["url"] == f"https://deploy.example.com/projects/{project.id}?service={service.id}"


async def test_a_full_disk_reaches_global_channels_only(world: tuple[Store, EventBus, Notifier]) -> None:
    store, _, notifier = world
    project = await store.projects.create_project(ProjectCreate(name="Shop"))
    with http_receiver() as rx:
        for name, project_id in (("global", None), ("shop", project.id)):
            await store.notification_channels.create_channel(
                ChannelCreate(
                    name=name,
                    kind=ChannelKind.WEBHOOK,
                    project_id=project_id,
                    settings={"url": f"{rx.base}/{name}"},
                    secrets={"secret": SECRET},
                )
            )
        tasks = await notifier.notify(Event(EventType.DISK_HIGH, payload={"path": "/", "percent": 93.4}))
        for task in tasks:
            await task
    assert [(r.path, json.loads(r.body)["message"]) for r in rx.requests] == [("/global", "The disk at / is 93% full.")]
