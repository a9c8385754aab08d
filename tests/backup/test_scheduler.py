"""The daemon's backup runner on a real SQLite store and real archives, with a manual clock and a
database part that can be held mid-copy: records, one run at a time, retention, the schedule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from deploykit.backup_record import BackupRecordCreate, BackupSchedule, BackupStatus, BackupTrigger
from deploykit.errors import CONFLICT, INVALID, UNAVAILABLE, Error, ValidationError
from deploykit_backup import BackupScheduler, BackupSources
from deploykit_backup.scheduler import INTERRUPTED, UNFINISHED
from deploykit_sqlite import Store
from tests.sqlite.support import ManualClock, RecordingBus


@dataclass
class HeldDatabase:
    """A DatabaseArchiver whose snapshot waits for ``release`` (when ``hold`` is set), or fails."""

    hold: bool = False
    fail: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def snapshot(self, dest: Path) -> int:
        self.started.set()
        if self.fail:
            raise Error(UNAVAILABLE, "The database could not be copied: disk I/O error.")
        if self.hold:
            await self.release.wait()
        await asyncio.to_thread(dest.write_bytes, b"SQLite format 3\x00" + b"\x00" * 100)
        return 6

    async def check(self, db: Path, key: bytes) -> list[str]:
        return []


@dataclass
class Rig:
    store: Store
    clock: ManualClock
    database: HeldDatabase
    scheduler: BackupScheduler
    backups_dir: Path

    async def settled(self) -> None:
        await self.scheduler.wait_idle()

    async def records(self) -> list[tuple[str, str, str | None]]:
        items, _ = await self.store.backups.list_backup_records()
        return [(r.trigger.value, r.status.value, r.error) for r in items]

    def archives(self) -> list[str]:
        return sorted(p.name for p in self.backups_dir.glob("*.tar.zst"))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = ManualClock()
    key = tmp_path / "secret.key"
    key.write_bytes(b"k" * 32)
    database = HeldDatabase()
    async with Store(path=":memory:", bus=RecordingBus(), clock=clock, bcrypt_rounds=4) as store:
        sources = BackupSources(database=database, key_file=key)
        scheduler = BackupScheduler(
            records=store.backups, sources=sources, backups_dir=tmp_path / "backups", clock=clock
        )
        await scheduler.start()
        try:
            yield Rig(store, clock, database, scheduler, tmp_path / "backups")
        finally:
            await scheduler.stop()


async def test_a_run_is_recorded_with_its_size_duration_and_archive(rig: Rig) -> None:
    record = await rig.scheduler.run_backup(created_by="user-1")
    assert (record.status, record.trigger, record.created_by) == (BackupStatus.RUNNING, BackupTrigger.MANUAL, "user-1")
    await rig.settled()
    (done,), total = await rig.scheduler.list_backups()
    assert total == 1
    assert done.status == BackupStatus.SUCCEEDED
    assert done.location == str(rig.backups_dir / rig.archives()[0])
    assert done.size_bytes == (rig.backups_dir / rig.archives()[0]).stat().st_size
    assert done.duration_s is not None
    assert done.finished_at is not None


async def test_only_one_backup_runs_at_a_time(rig: Rig) -> None:
    rig.database.hold = True
    await rig.scheduler.run_backup(created_by=None)
    await rig.database.started.wait()
    with pytest.raises(Error) as exc:
        await rig.scheduler.run_backup(created_by=None)
    assert (exc.value.code, exc.value.message) == (CONFLICT, "A backup is already running.")
    rig.database.release.set()
    await rig.settled()
    assert await rig.records() == [("manual", "succeeded", None)]


async def test_a_failed_backup_is_recorded_with_its_reason(rig: Rig) -> None:
    rig.database.fail = True
    await rig.scheduler.run_backup(created_by=None)
    await rig.settled()
    assert await rig.records() == [("manual", "failed", "The database could not be copied: disk I/O error.")]
    assert rig.archives() == []


async def test_retention_keeps_the_newest_archives_and_leaves_other_files(rig: Rig) -> None:
    await rig.scheduler.set_schedule(BackupSchedule(keep=2))
    rig.backups_dir.mkdir()
    (rig.backups_dir / "pre-migrate-20260101T000000000000Z.tar.zst").write_bytes(b"kept")
    names = []
    for _ in range(3):
        rig.clock.advance(timedelta(minutes=1))
        await rig.scheduler.run_backup(created_by=None)
        await rig.settled()
        (newest,), _ = await rig.scheduler.list_backups(limit=1)
        assert newest.location is not None
        names.append(Path(newest.location).name)
    assert rig.archives() == sorted(["pre-migrate-20260101T000000000000Z.tar.zst", *names[1:]])


async def test_the_schedule_runs_a_backup_when_enabled_and_again_when_due(rig: Rig) -> None:
    await rig.scheduler.set_schedule(BackupSchedule(enabled=True, interval_hours=6))

    async def scheduled_runs() -> int:
        while True:
            items, _ = await rig.store.backups.list_backup_records()
            done = [r for r in items if r.trigger == BackupTrigger.SCHEDULED and r.status != BackupStatus.RUNNING]
            if done:
                return len(done)
            await asyncio.sleep(0.01)

    assert await asyncio.wait_for(scheduled_runs(), 10) == 1
    rig.clock.advance(timedelta(hours=1))
    await rig.scheduler.set_schedule(BackupSchedule(enabled=True, interval_hours=6))  # wakes the loop: not due
    await rig.settled()
    assert await rig.records() == [("scheduled", "succeeded", None)]

    rig.clock.advance(timedelta(hours=5))
    await rig.scheduler.set_schedule(BackupSchedule(enabled=True, interval_hours=6))

    async def two_runs() -> None:
        while True:
            if len(await rig.records()) == 2 and not rig.scheduler.busy:
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(two_runs(), 10)
    assert await rig.records() == [("scheduled", "succeeded", None)] * 2


async def test_a_run_cut_short_by_the_stop_is_recorded_as_interrupted(rig: Rig) -> None:
    rig.database.hold = True
    await rig.scheduler.run_backup(created_by=None)
    await rig.database.started.wait()
    await rig.scheduler.stop()
    assert await rig.records() == [("manual", "failed", INTERRUPTED)]
    assert list(rig.backups_dir.glob("*.partial")) == []


async def test_a_record_left_running_is_failed_when_the_next_daemon_starts(rig: Rig, tmp_path: Path) -> None:
    """A restored database holds the record of the run that archived it, still running."""
    await rig.scheduler.stop()
    await rig.store.backups.create_backup_record(BackupRecordCreate(trigger=BackupTrigger.SCHEDULED))
    after_restore = BackupScheduler(
        records=rig.store.backups,
        sources=BackupSources(database=rig.database, key_file=tmp_path / "secret.key"),
        backups_dir=rig.backups_dir,
        clock=rig.clock,
    )
    await after_restore.start()
    try:
        assert await rig.records() == [("scheduled", "failed", UNFINISHED)]
    finally:
        await after_restore.stop()


@pytest.mark.parametrize(
    ("schedule", "fields"),
    [
        (BackupSchedule(interval_hours=0), {"interval_hours": ["must be between 1 and 744"]}),
        (BackupSchedule(keep=0), {"keep": ["must be between 1 and 1000"]}),
        (
            BackupSchedule(destination="/mnt/backups"),
            {"destination": ["must be empty (the data directory) or s3://bucket/prefix"]},
        ),
        (BackupSchedule(s3_endpoint="minio:9000"), {"s3_endpoint": ["must be an http:// or https:// URL"]}),
    ],
)
async def test_a_bad_schedule_is_refused_and_the_stored_one_kept(
    rig: Rig, schedule: BackupSchedule, fields: dict[str, list[str]]
) -> None:
    await rig.scheduler.set_schedule(BackupSchedule(keep=3))
    with pytest.raises(ValidationError) as exc:
        await rig.scheduler.set_schedule(schedule)
    assert exc.value.code == INVALID
    assert exc.value.fields == fields
    assert await rig.scheduler.get_schedule() == BackupSchedule(keep=3)
