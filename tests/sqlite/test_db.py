"""Opening, migrating and encrypting."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploykit.bus import Event, EventType
from deploykit.errors import UNAVAILABLE, Error
from deploykit.pending_change import ChangeKind
from deploykit.project import ProjectCreate, ProjectFilter
from deploykit_sqlite import Store, migrate, migration_files
from deploykit_sqlite.cipher import KEY_FILE, Cipher
from tests.sqlite.support import ManualClock, RecordingBus, image_service, stage


async def test_open_migrates_a_file_in_wal_mode_and_creates_a_private_key(tmp_path: Path) -> None:
    db_path = tmp_path / "deploykit.db"
    store = Store(path=str(db_path), data_dir=tmp_path, bus=RecordingBus(), clock=ManualClock(), bcrypt_rounds=4)
    await store.open()
    try:
        assert await store.ping() is True
        assert store.path == str(db_path)
        await store.projects.create_project(ProjectCreate(name="Shop"))
    finally:
        await store.close()
    key = tmp_path / KEY_FILE
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [v for v, _, _ in migration_files()]


async def test_reopening_keeps_data_and_key(tmp_path: Path) -> None:
    db_path = str(tmp_path / "deploykit.db")
    for _ in range(2):
        store = Store(path=db_path, data_dir=tmp_path, bus=RecordingBus(), clock=ManualClock(), bcrypt_rounds=4)
        await store.open()
        await store.projects.create_project(ProjectCreate(name="Shop"))
        _, total = await store.projects.list_projects(ProjectFilter())
        await store.close()
    assert total == 2


async def test_migrate_applies_once(tmp_path: Path) -> None:
    db_path = str(tmp_path / "deploykit.db")
    assert await migrate(db_path) == [v for v, _, _ in migration_files()]
    assert await migrate(db_path) == []


async def test_closed_store_is_unavailable_and_ping_is_false() -> None:
    store = Store(path=":memory:", bus=RecordingBus(), clock=ManualClock(), bcrypt_rounds=4)
    await store.open()
    await store.close()
    assert await store.ping() is False
    with pytest.raises(Error) as info:
        await store.projects.create_project(ProjectCreate(name="Shop"))
    assert (info.value.code, info.value.message) == (UNAVAILABLE, "The database is not open.")


def test_cipher_round_trips_and_uses_a_fresh_nonce() -> None:
    cipher = Cipher.ephemeral()
    a, b = cipher.seal("secret"), cipher.seal("secret")
    assert a != b
    assert b"secret" not in a
    assert cipher.open(a) == "secret"


def test_cipher_with_another_key_fails_as_internal() -> None:
    sealed = Cipher.ephemeral().seal("secret")
    with pytest.raises(Error) as info:
        Cipher.ephemeral().open(sealed)
    assert info.value.code == "internal"


def read_database_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("deploykit.db*")))


async def test_env_values_are_not_stored_in_clear(tmp_path: Path) -> None:
    db_path = tmp_path / "deploykit.db"
    store = Store(path=str(db_path), data_dir=tmp_path, bus=RecordingBus(), clock=ManualClock(), bcrypt_rounds=4)
    await store.open()
    try:
        project = await store.projects.create_project(ProjectCreate(name="Shop"))
        await stage(
            store,
            project.id,
            ChangeKind.ENV_VAR_CREATE,
            {"scope": "project", "key": "TOKEN", "value": "hunter2-very-secret"},
        )
        await store.pending_changes.apply_pending_changes(project.id, None)
    finally:
        await store.close()
    raw = read_database_files(tmp_path)
    assert raw
    assert b"hunter2-very-secret" not in raw


@dataclass
class ProbingBus(RecordingBus):
    """Notes, for each event, whether a transaction was still open when it was published."""

    store: Store | None = None
    during_transaction: list[bool] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        assert self.store is not None
        self.during_transaction.append(self.store.db.in_transaction)
        super().publish(event)


async def fail_inside_transaction(store: Store, project_id: str) -> None:
    async with store.db.tx() as tx:
        tx.publish(Event(EventType.SERVICE_UPDATED, project_id=project_id))
        raise RuntimeError("boom")


async def test_events_are_published_after_commit_and_not_on_rollback() -> None:
    bus = ProbingBus()
    store = Store(path=":memory:", bus=bus, clock=ManualClock(), bcrypt_rounds=4)
    bus.store = store
    await store.open()
    try:
        project = await store.projects.create_project(ProjectCreate(name="Shop"))
        await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("api"))
        await store.pending_changes.apply_pending_changes(project.id, None)
        assert bus.events
        assert bus.during_transaction == [False] * len(bus.events)
        published = len(bus.events)
        with pytest.raises(RuntimeError):
            await fail_inside_transaction(store, project.id)
        assert len(bus.events) == published
    finally:
        await store.close()


async def test_a_cancelled_unit_of_work_rolls_back_and_frees_the_connection(store: Store) -> None:
    entered = asyncio.Event()

    async def stuck() -> None:
        async with store.db.tx() as tx:
            await tx.execute(
                "INSERT INTO projects (id, name, slug, created_at, updated_at) VALUES ('p', 'n', 's', 't', 't')"
            )
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.db.in_transaction is False
    _, total = await store.projects.list_projects(ProjectFilter())
    assert total == 0
    await store.projects.create_project(ProjectCreate(name="after"))


async def test_concurrent_writers_are_serialized(store: Store) -> None:
    projects = await asyncio.gather(*(store.projects.create_project(ProjectCreate(name=f"p{i}")) for i in range(20)))
    project = projects[0]
    applying = asyncio.create_task(store.pending_changes.apply_pending_changes(project.id, None))
    staged = await asyncio.gather(
        *(stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service(f"svc{i}")) for i in range(10))
    )
    await applying
    assert len({c.target_temp_id for c in staged}) == 10
    _, total = await store.projects.list_projects(ProjectFilter())
    assert total == 20


async def test_reads_of_a_file_store_see_committed_data_without_waiting_for_a_writer(tmp_path: Path) -> None:
    store = Store(
        path=str(tmp_path / "deploykit.db"), data_dir=tmp_path, bus=RecordingBus(), clock=ManualClock(), bcrypt_rounds=4
    )
    await store.open()
    try:
        await store.projects.create_project(ProjectCreate(name="Committed"))
        inside, release = asyncio.Event(), asyncio.Event()

        async def slow_writer() -> None:
            async with store.db.tx() as tx:
                await tx.execute(
                    "INSERT INTO projects (id, name, slug, created_at, updated_at) "
                    "VALUES ('p2', 'Uncommitted', 'u', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
                )
                inside.set()
                await release.wait()

        writer = asyncio.create_task(slow_writer())
        await inside.wait()
        # The writer holds its transaction open: a read neither waits for it nor sees its row.
        found, total = await asyncio.wait_for(store.projects.list_projects(ProjectFilter()), 2)
        assert (total, [p.name for p in found]) == (1, ["Committed"])
        release.set()
        await writer
        found, total = await store.projects.list_projects(ProjectFilter())
        assert (total, [p.name for p in found]) == (2, ["Committed", "Uncommitted"])

        async with store.db.read() as tx:
            with pytest.raises(RuntimeError, match="cannot write"):
                await tx.execute("DELETE FROM projects")
        assert (await store.projects.list_projects(ProjectFilter()))[1] == 2
    finally:
        await store.close()


async def test_data_version_changes_with_every_commit_of_this_or_another_connection(tmp_path: Path) -> None:
    db_path = tmp_path / "deploykit.db"
    store = Store(path=str(db_path), data_dir=tmp_path, bus=RecordingBus(), clock=ManualClock(), bcrypt_rounds=4)
    await store.open()
    try:
        first = store.data_version()
        assert first is not None
        assert store.data_version() == first
        await store.projects.create_project(ProjectCreate(name="Shop"))
        second = store.data_version()
        assert second is not None
        assert second != first
        other = sqlite3.connect(db_path)  # a deploykitd command, a restore: another process
        try:
            other.execute("UPDATE projects SET name = 'Renamed'")
            other.commit()
        finally:
            other.close()
        assert store.data_version() not in (first, second, None)
    finally:
        await store.close()


async def test_an_in_memory_store_has_no_data_version() -> None:
    store = Store(path=":memory:", bus=RecordingBus(), clock=ManualClock(), bcrypt_rounds=4)
    await store.open()
    try:
        await store.projects.create_project(ProjectCreate(name="Shop"))
        assert store.data_version() is None
    finally:
        await store.close()
