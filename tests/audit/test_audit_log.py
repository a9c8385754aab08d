"""The audit log end to end inside one process: the real store publishes, the real bus stamps the
actor of the request (``acting_as``), the recorder appends, and the store reads it back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploykit.audit import Actor, AuditFilter, acting_as
from deploykit.auth import APIKeyCreate
from deploykit.backup_record import BackupSchedule
from deploykit.build import DeployKeyPair
from deploykit.errors import Error
from deploykit.notification import ChannelCreate, ChannelKind, ChannelUpdate
from deploykit.pending_change import ChangeKind
from deploykit.project import ProjectCreate
from deploykit.user import Role, UserCreate, UserUpdate
from deploykit.webhook import Provider
from deploykit_events import EventBus
from deploykit_sqlite import Store
from deploykitd.audit import AuditRecorder
from tests.sqlite.support import image_service, stage

ADMIN = Actor(user_id="u-admin", name="admin@example.com", address="203.0.113.7")
KEY = Actor(user_id="u-admin", name="admin@example.com", api_key_id="k-1", api_key_name="ci", address="198.51.100.2")
SECRET_VALUE = "s3cr3t-env-value"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Store, AuditRecorder]]:
    bus = EventBus()
    store = Store(path=str(tmp_path / "dk.db"), data_dir=tmp_path, bus=bus, bcrypt_rounds=4)
    await store.open()
    recorder = AuditRecorder(bus=bus, audit=store.audit, clock=store.db.clock)
    recorder.start()
    try:
        yield store, recorder
    finally:
        await recorder.close()
        await store.close()
        bus.close()


async def settle(store: Store, recorder: AuditRecorder) -> list[str]:
    """Close the recorder (it records everything queued first) and list the actions, oldest first."""
    await recorder.close()
    entries, _ = await store.audit.list_entries(AuditFilter(limit=500))
    return [e.action for e in reversed(entries)]


async def test_what_people_do_is_recorded_with_who_and_where_and_never_a_secret(
    world: tuple[Store, AuditRecorder],
) -> None:
    store, recorder = world
    with acting_as(ADMIN):
        project = await store.projects.create_project(ProjectCreate(name="Shop"))
        await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("git-app"))
        await stage(
            store,
            project.id,
            ChangeKind.ENV_VAR_CREATE,
            {"scope": "project", "key": "API_TOKEN", "value": SECRET_VALUE},
        )
        result = await store.pending_changes.apply_pending_changes(project.id, ADMIN.user_id)
        [service_id] = result.temp_id_to_service_id.values()
        await store.services.set_service_stopped(service_id, True)
        await store.services.set_service_stopped(service_id, False)
        await store.deployments.redeploy(service_id, ADMIN.user_id)
        await store.domains.add_domain(service_id, "shop.example.com")
        await store.domains.delete_domain(service_id, "shop.example.com")
        await store.deploy_keys.set_deploy_key(
            service_id,
            DeployKeyPair(public_key="ssh-ed25519 AAAA", fingerprint="SHA256:abc", private_key="PRIVATE-KEY"),
        )
        member = await store.users.create_user(
            UserCreate(email="m@example.com", name="M", password="a-long-password-1", role=Role.MEMBER)
        )
        await store.users.update_user(member.id, UserUpdate(password="another-password-2"))
        channel = await store.notification_channels.create_channel(
            ChannelCreate(
                name="slack", kind=ChannelKind.SLACK, secrets={"url": "https://hooks.slack.com/T/B/xyz-token"}
            )
        )
        await store.notification_channels.update_channel(
            channel.id, ChannelUpdate(secrets={"url": "https://hooks.slack.com/T/B/new-token"})
        )
    with acting_as(KEY):
        _, token = await store.auth.create_api_key(member.id, APIKeyCreate(description="deployer"))
    with acting_as(Actor(address="192.0.2.9")):
        with pytest.raises(Error):
            await store.auth.login("m@example.com", "wrong-password")
        await store.auth.login("m@example.com", "another-password-2")
    with acting_as(None):  # the system's own work is no one's action
        await store.projects.create_project(ProjectCreate(name="Background"))

    assert await settle(store, recorder) == [
        "project.created",
        "deployment.created",
        "changes.applied",
        "service.stopped",
        "service.started",
        "deployment.created",
        "domain.added",
        "domain.removed",
        "deploy_key.set",
        "user.created",
        "user.updated",
        "notification_channel.created",
        "notification_channel.updated",
        "api_key.created",
        "auth.login_failed",
        "auth.login",
    ]
    entries, total = await store.audit.list_entries(AuditFilter(limit=500))
    assert total == 16
    everything = json.dumps([e.details for e in entries])
    for secret in (SECRET_VALUE, "PRIVATE-KEY", "xyz-token", "new-token", token, "another-password-2"):
        assert secret not in everything
    by_action = {e.action: e for e in entries}
    applied = by_action["changes.applied"]
    assert applied.actor == ADMIN
    assert [(c["kind"], c["payload"].get("key")) for c in applied.details["changes"]] == [
        ("service.create", None),
        ("env_var.create", "API_TOKEN"),
    ]
    assert by_action["notification_channel.updated"].details["fields"] == ["secrets.url"]
    assert by_action["user.updated"].details["fields"] == ["password"]
    assert by_action["api_key.created"].actor == KEY
    assert by_action["auth.login_failed"].actor == Actor(name="m@example.com", address="192.0.2.9")
    assert by_action["auth.login"].actor == Actor(user_id=member.id, name="m@example.com", address="192.0.2.9")


async def test_the_log_filters_by_project_user_action_and_time_and_pages(world: tuple[Store, AuditRecorder]) -> None:
    store, recorder = world
    with acting_as(ADMIN):
        shop = await store.projects.create_project(ProjectCreate(name="Shop"))
    with acting_as(Actor(user_id="u-other", name="o@example.com", address="10.0.0.1")):
        await store.projects.create_project(ProjectCreate(name="Blog"))
        await store.users.create_user(UserCreate(email="x@example.com", name="X", password="a-long-password-1"))
    await settle(store, recorder)
    audit = store.audit

    async def actions(filt: AuditFilter) -> tuple[list[str], int]:
        items, total = await audit.list_entries(filt)
        return [e.action for e in items], total

    assert await actions(AuditFilter(project_id=shop.id)) == (["project.created"], 1)
    assert await actions(AuditFilter(user_id="u-other")) == (["user.created", "project.created"], 2)
    assert await actions(AuditFilter(action="project.")) == (["project.created", "project.created"], 2)
    assert await actions(AuditFilter(action="user.created")) == (["user.created"], 1)
    assert await actions(AuditFilter(projects_only=True)) == (["project.created", "project.created"], 2)
    assert await actions(AuditFilter(limit=1, offset=1)) == (["project.created"], 3)
    later = store.db.clock.now().replace(year=2999)
    assert await actions(AuditFilter(since=later)) == ([], 0)


async def test_entries_cannot_be_changed_or_deleted(world: tuple[Store, AuditRecorder]) -> None:
    store, recorder = world
    with acting_as(ADMIN):
        await store.projects.create_project(ProjectCreate(name="Shop"))
    await settle(store, recorder)
    for sql in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            async with store.db.tx() as tx:
                await tx.execute(sql)
    _, total = await store.audit.list_entries(AuditFilter())
    assert total == 1


async def test_webhooks_and_keys_removed_are_recorded(world: tuple[Store, AuditRecorder]) -> None:
    store, recorder = world
    project = await store.projects.create_project(ProjectCreate(name="Shop"))
    git = {"name": "web", "source": {"type": "git", "repo_url": "https://user:tok123@git.example.com/r.git"}}
    await stage(store, project.id, ChangeKind.SERVICE_CREATE, git)
    with acting_as(ADMIN):
        result = await store.pending_changes.apply_pending_changes(project.id, ADMIN.user_id)
        [service_id] = result.temp_id_to_service_id.values()
        await store.webhooks.create_webhook(service_id, Provider.GITHUB)
        await store.webhooks.delete_webhook(service_id)
        await store.deploy_keys.set_deploy_key(
            service_id, DeployKeyPair(public_key="ssh-ed25519 AAAA", fingerprint="SHA256:abc", private_key="PRIVATE")
        )
        await store.deploy_keys.delete_deploy_key(service_id)
    assert await settle(store, recorder) == [
        "deployment.created",
        "changes.applied",
        "webhook.created",
        "webhook.deleted",
        "deploy_key.set",
        "deploy_key.deleted",
    ]
    entries, _ = await store.audit.list_entries(AuditFilter(limit=100))
    assert "tok123" not in json.dumps([e.details for e in entries])


async def test_a_setting_change_is_recorded(world: tuple[Store, AuditRecorder]) -> None:
    store, recorder = world
    with acting_as(ADMIN):
        await store.backups.set_backup_schedule(BackupSchedule(enabled=True, interval_hours=6, keep=3))
    assert await settle(store, recorder) == ["setting.changed"]
    [entry], _ = await store.audit.list_entries(AuditFilter())
    assert entry.actor == ADMIN
    assert (entry.details["key"], entry.details["enabled"], entry.details["interval_hours"]) == (
        "backup.schedule",
        True,
        6,
    )
