"""Backups the daemon ran (on request or on schedule), the schedule an admin sets, and what the
HTTP adapter may ask of the part that runs them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from deploykit.errors import FieldErrors

MAX_INTERVAL_HOURS = 24 * 31
MAX_KEEP = 1000


class BackupStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class BackupTrigger(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"


@dataclass(frozen=True, kw_only=True)
class BackupRecord:
    id: str
    trigger: BackupTrigger
    status: BackupStatus
    started_at: datetime
    finished_at: datetime | None = None
    location: str | None = None
    """The archive's path or ``s3://`` URL, once written."""
    size_bytes: int | None = None
    duration_s: float | None = None
    volumes: int = 0
    error: str | None = None
    created_by: str | None = None
    """The admin who asked for it; None for scheduled runs."""


@dataclass(frozen=True, kw_only=True)
class BackupRecordCreate:
    trigger: BackupTrigger
    created_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class BackupOutcome:
    """How a run ended."""

    status: BackupStatus
    location: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    volumes: int = 0
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class BackupSchedule:
    """Scheduled backups, set by an admin. Off until enabled."""

    enabled: bool = False
    interval_hours: int = 24
    keep: int = 7
    """Archives kept at the destination; older scheduled and manual ones are deleted."""
    destination: str = ""
    """Empty: ``<data-dir>/backups``; else ``s3://bucket/prefix``."""
    s3_endpoint: str = ""
    """The S3-compatible store's URL; empty for AWS itself."""

    def validate(self) -> None:
        errors = FieldErrors()
        if not 1 <= self.interval_hours <= MAX_INTERVAL_HOURS:
            errors.add("interval_hours", f"must be between 1 and {MAX_INTERVAL_HOURS}")
        if not 1 <= self.keep <= MAX_KEEP:
            errors.add("keep", f"must be between 1 and {MAX_KEEP}")
        if self.destination and (not self.destination.startswith("s3://") or len(self.destination) <= len("s3://")):
            errors.add("destination", "must be empty (the data directory) or s3://bucket/prefix")
        if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
            errors.add("s3_endpoint", "must be an http:// or https:// URL")
        errors.raise_if_any()


class BackupRecordService(Protocol):
    async def create_backup_record(self, create: BackupRecordCreate) -> BackupRecord:
        """A new ``running`` record."""
        ...

    async def finish_backup_record(self, id: str, outcome: BackupOutcome) -> BackupRecord:
        """Raises ``not_found``."""
        ...

    async def list_backup_records(self, *, limit: int = 50, offset: int = 0) -> tuple[list[BackupRecord], int]:
        """Newest first, and the total count."""
        ...

    async def last_backup_record(self, trigger: BackupTrigger) -> BackupRecord | None:
        """The newest record of ``trigger``."""
        ...

    async def fail_running_backups(self, reason: str) -> int:
        """Mark every ``running`` record failed (a run the daemon's stop or a restore cut short); how many."""
        ...

    async def get_backup_schedule(self) -> BackupSchedule:
        """The stored schedule, or the default one."""
        ...

    async def set_backup_schedule(self, schedule: BackupSchedule) -> BackupSchedule:
        """Raises ``invalid``."""
        ...


class BackupRunner(Protocol):
    """What admins may ask of the daemon's backups (``deploykit_backup.BackupScheduler``)."""

    async def run_backup(self, *, created_by: str | None) -> BackupRecord:
        """Start a backup now; its ``running`` record (it goes on in the background). Raises
        ``conflict`` while another one runs."""
        ...

    async def list_backups(self, *, limit: int = 50, offset: int = 0) -> tuple[list[BackupRecord], int]: ...

    async def get_schedule(self) -> BackupSchedule: ...

    async def set_schedule(self, schedule: BackupSchedule) -> BackupSchedule:
        """Store it and wake the scheduler. Raises ``invalid``."""
        ...
