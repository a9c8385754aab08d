"""The daemon's backups: on an admin's request or on the schedule an admin sets, one at a time,
each recorded (size, duration, outcome) and followed by retention at the destination.

The loop is a supervised task that sleeps on an event (a schedule change wakes it) with a timeout
until the next backup is due; a failing check is logged and retried a minute later.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from deploykit.backup import BackupReport
from deploykit.backup_record import (
    BackupOutcome,
    BackupRecord,
    BackupRecordCreate,
    BackupRecordService,
    BackupSchedule,
    BackupStatus,
    BackupTrigger,
)
from deploykit.clock import Clock, SystemClock
from deploykit.errors import CONFLICT, Error, error_message
from deploykit_backup.backup import ARCHIVE_PREFIX, ARCHIVE_SUFFIX, BackupSources, archive_name, create_backup
from deploykit_backup.s3 import S3Location, S3Store

log = logging.getLogger(__name__)

INTERRUPTED = "Interrupted: the daemon stopped during the backup."
UNFINISHED = (
    "Unfinished: the daemon stopped during this backup, or this database was restored from the archive it was writing."
)
"""Said of a record found running at start: a restored database holds the record of the run that
archived it, running at the moment of its snapshot."""


def is_archive_name(name: str) -> bool:
    """Archives retention may delete: the ones runs write, not ``pre-migrate-*`` or foreign files."""
    return name.startswith(f"{ARCHIVE_PREFIX}-") and name.endswith(ARCHIVE_SUFFIX) and "/" not in name


class BackupScheduler:
    """``BackupRunner``: runs backups of ``sources`` into ``backups_dir`` or the schedule's S3 location."""

    def __init__(
        self,
        *,
        records: BackupRecordService,
        sources: BackupSources,
        backups_dir: Path,
        clock: Clock | None = None,
        s3: Callable[[str], S3Store] | None = None,
        max_sleep_s: float = 300.0,
        retry_s: float = 60.0,
    ) -> None:
        self._records = records
        self._sources = sources
        self._dir = backups_dir
        self._clock = clock or SystemClock()
        self._s3 = s3 or (lambda endpoint: S3Store(endpoint_url=endpoint or None))
        self._max_sleep_s = max_sleep_s
        self._retry_s = retry_s
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        """Mark runs a previous daemon left unfinished as failed, and start the schedule's loop."""
        failed = await self._records.fail_running_backups(UNFINISHED)
        if failed:
            log.warning("%d backup record(s) were left running by a stop or a restore", failed)
        self._loop_task = asyncio.create_task(self._loop(), name="backup-scheduler")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, self._running) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def busy(self) -> bool:
        return self._running is not None and not self._running.done()

    async def wait_idle(self) -> None:
        """Until the running backup (if any) has finished (tests, benchmarks)."""
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)

    # -- BackupRunner --------------------------------------------------------------------------------

    async def run_backup(self, *, created_by: str | None) -> BackupRecord:
        return await self._start(BackupTrigger.MANUAL, created_by)

    async def list_backups(self, *, limit: int = 50, offset: int = 0) -> tuple[list[BackupRecord], int]:
        return await self._records.list_backup_records(limit=limit, offset=offset)

    async def get_schedule(self) -> BackupSchedule:
        return await self._records.get_backup_schedule()

    async def set_schedule(self, schedule: BackupSchedule) -> BackupSchedule:
        saved = await self._records.set_backup_schedule(schedule)
        self._wake.set()
        return saved

    # -- one run -------------------------------------------------------------------------------------

    async def _start(self, trigger: BackupTrigger, created_by: str | None) -> BackupRecord:
        async with self._start_lock:
            if self.busy:
                raise Error(CONFLICT, "A backup is already running.")
            record = await self._records.create_backup_record(
                BackupRecordCreate(trigger=trigger, created_by=created_by)
            )
            schedule = await self._records.get_backup_schedule()
            self._running = asyncio.create_task(self._run(record, schedule), name=f"backup-{record.id[:8]}")
        return record

    async def _run(self, record: BackupRecord, schedule: BackupSchedule) -> None:
        started = self._clock.monotonic()
        try:
            report = await self._write(schedule)
        except asyncio.CancelledError:
            outcome = BackupOutcome(status=BackupStatus.FAILED, error=INTERRUPTED)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._records.finish_backup_record(record.id, outcome))
            raise
        except Exception as exc:
            log.warning("backup %s failed: %s", record.id[:8], error_message(exc), exc_info=not isinstance(exc, Error))
            outcome = BackupOutcome(
                status=BackupStatus.FAILED,
                duration_s=self._clock.monotonic() - started,
                error=error_message(exc),
            )
            await self._records.finish_backup_record(record.id, outcome)
            return
        outcome = BackupOutcome(
            status=BackupStatus.SUCCEEDED,
            location=report.location,
            size_bytes=report.size_bytes,
            duration_s=self._clock.monotonic() - started,
            volumes=report.volumes,
        )
        await self._records.finish_backup_record(record.id, outcome)
        log.info("backup written to %s (%d bytes)", report.location, report.size_bytes)
        try:
            await self._prune(schedule)
        except Exception as exc:
            log.warning("backup retention failed: %s", error_message(exc))

    async def _write(self, schedule: BackupSchedule) -> BackupReport:
        name = archive_name(self._clock.now())
        if not schedule.destination:
            return await create_backup(self._sources, self._dir / name)
        location = S3Location.parse(schedule.destination)
        await asyncio.to_thread(self._dir.mkdir, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".deploykit-upload-", dir=self._dir) as tmp:
            report = await create_backup(self._sources, Path(tmp) / name)
            url = await self._s3(schedule.s3_endpoint).upload(Path(report.location), location, name)
        return dataclasses.replace(report, location=url)

    async def _prune(self, schedule: BackupSchedule) -> None:
        """Keep the newest ``schedule.keep`` archives at the destination (names sort by time)."""
        if schedule.destination:
            location = S3Location.parse(schedule.destination)
            store = self._s3(schedule.s3_endpoint)
            objects = sorted(
                (o for o in await store.list_objects(location) if is_archive_name(o.name)), key=lambda o: o.name
            )
            for obj in objects[: max(0, len(objects) - schedule.keep)]:
                await store.delete(obj.url)
            return
        files = await asyncio.to_thread(lambda: sorted(p for p in self._dir.iterdir() if is_archive_name(p.name)))
        for path in files[: max(0, len(files) - schedule.keep)]:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    # -- the schedule --------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                delay = await self._tick()
            except Exception as exc:
                log.warning("backup schedule check failed: %s", error_message(exc))
                delay = self._retry_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    async def _tick(self) -> float:
        """Start a scheduled backup when one is due; seconds until the next check."""
        schedule = await self._records.get_backup_schedule()
        if not schedule.enabled:
            return self._max_sleep_s
        interval = timedelta(hours=schedule.interval_hours)
        last = await self._records.last_backup_record(BackupTrigger.SCHEDULED)
        now = self._clock.now()
        due = now if last is None else last.started_at + interval
        if now < due:
            return min(self._max_sleep_s, (due - now).total_seconds())
        if self.busy:  # a manual run: look again soon
            return self._retry_s
        await self._start(BackupTrigger.SCHEDULED, None)
        return min(self._max_sleep_s, interval.total_seconds())
