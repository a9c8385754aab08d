"""BackupRecordService on SQLite: the backups the daemon ran, and the schedule (a JSON setting)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid

from deploykit.backup_record import (
    BackupOutcome,
    BackupRecord,
    BackupRecordCreate,
    BackupSchedule,
    BackupStatus,
    BackupTrigger,
)
from deploykit.bus import Event, EventType
from deploykit.errors import not_found
from deploykit_sqlite.db import DB, dumps, from_text, must_time, to_text

SCHEDULE_KEY = "backup.schedule"


def row_to_record(row: sqlite3.Row) -> BackupRecord:
    return BackupRecord(
        id=row["id"],
        trigger=BackupTrigger(row["trigger"]),
        status=BackupStatus(row["status"]),
        started_at=must_time(row["started_at"]),
        finished_at=from_text(row["finished_at"]),
        location=row["location"],
        size_bytes=row["size_bytes"],
        duration_s=row["duration_s"],
        volumes=row["volumes"],
        error=row["error"],
        created_by=row["created_by"],
    )


class BackupRecordStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def create_backup_record(self, create: BackupRecordCreate) -> BackupRecord:
        id = str(uuid.uuid4())
        async with self.db.tx() as tx:
            await tx.execute(
                "INSERT INTO backups (id, trigger, status, created_by, started_at) VALUES (?, ?, ?, ?, ?)",
                (id, create.trigger.value, BackupStatus.RUNNING.value, create.created_by, to_text(tx.now())),
            )
            row = await tx.fetchone("SELECT * FROM backups WHERE id = ?", (id,))
        assert row is not None
        return row_to_record(row)

    async def finish_backup_record(self, id: str, outcome: BackupOutcome) -> BackupRecord:
        async with self.db.tx() as tx:
            changed = await tx.execute(
                "UPDATE backups SET status = ?, location = ?, size_bytes = ?, duration_s = ?, volumes = ?, "
                "error = ?, finished_at = ? WHERE id = ?",
                (
                    outcome.status.value,
                    outcome.location,
                    outcome.size_bytes,
                    outcome.duration_s,
                    outcome.volumes,
                    outcome.error,
                    to_text(tx.now()),
                    id,
                ),
            )
            if not changed:
                raise not_found("Backup")
            row = await tx.fetchone("SELECT * FROM backups WHERE id = ?", (id,))
            assert row is not None
            if outcome.status is BackupStatus.FAILED:  # notifications hear it
                payload = {"backup_id": id, "trigger": row["trigger"], "reason": outcome.error}
                tx.publish(Event(EventType.BACKUP_FAILED, payload=payload, at=tx.now()))
        return row_to_record(row)

    async def list_backup_records(self, *, limit: int = 50, offset: int = 0) -> tuple[list[BackupRecord], int]:
        async with self.db.read() as tx:
            rows = await tx.fetchall(
                "SELECT * FROM backups ORDER BY started_at DESC, id LIMIT ? OFFSET ?", (limit, offset)
            )
            total = int(await tx.scalar("SELECT COUNT(*) FROM backups"))
        return [row_to_record(r) for r in rows], total

    async def last_backup_record(self, trigger: BackupTrigger) -> BackupRecord | None:
        async with self.db.read() as tx:
            row = await tx.fetchone(
                "SELECT * FROM backups WHERE trigger = ? ORDER BY started_at DESC LIMIT 1", (trigger.value,)
            )
        return None if row is None else row_to_record(row)

    async def fail_running_backups(self, reason: str) -> int:
        async with self.db.tx() as tx:
            failed = await tx.execute(
                "UPDATE backups SET status = ?, error = ?, finished_at = ? WHERE status = ?",
                (BackupStatus.FAILED.value, reason, to_text(tx.now()), BackupStatus.RUNNING.value),
            )
            if failed:
                tx.publish(Event(EventType.BACKUP_FAILED, payload={"reason": reason, "count": failed}, at=tx.now()))
            return failed

    async def get_backup_schedule(self) -> BackupSchedule:
        async with self.db.read() as tx:
            raw = await tx.scalar("SELECT value FROM settings WHERE key = ?", (SCHEDULE_KEY,))
        if raw is None:
            return BackupSchedule()
        known = {f.name for f in dataclasses.fields(BackupSchedule)}
        return BackupSchedule(**{k: v for k, v in json.loads(raw).items() if k in known})

    async def set_backup_schedule(self, schedule: BackupSchedule) -> BackupSchedule:
        schedule.validate()
        async with self.db.tx() as tx:
            await tx.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (SCHEDULE_KEY, dumps(dataclasses.asdict(schedule)), to_text(tx.now())),
            )
            # A setting changed, for the audit log (an S3 destination names a bucket, no secret).
            tx.publish(
                Event(
                    EventType.SETTING_CHANGED,
                    payload={"key": SCHEDULE_KEY, **dataclasses.asdict(schedule)},
                    at=tx.now(),
                )
            )
        return schedule
