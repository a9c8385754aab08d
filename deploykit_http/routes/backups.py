"""Backups (admins only): the list with size, duration and outcome, an on-demand run, and the
schedule with its retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from deploykit.backup_record import MAX_INTERVAL_HOURS, MAX_KEEP, BackupRecord, BackupRunner, BackupSchedule
from deploykit_http import models as m
from deploykit_http import render
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.errors import unavailable


class BackupOut(m.Model):
    id: str
    trigger: Literal["manual", "scheduled"]
    status: Literal["running", "succeeded", "failed"]
    started_at: datetime
    finished_at: datetime | None
    location: str | None
    size_bytes: int | None
    duration_s: float | None
    volumes: int
    error: str | None
    created_by: str | None


class BackupPage(m.Model):
    data: list[BackupOut]
    total_count: int
    offset: int
    limit: int


class BackupScheduleBody(m.Model):
    enabled: bool = False
    interval_hours: int = Field(default=24, ge=1, le=MAX_INTERVAL_HOURS)
    keep: int = Field(default=7, ge=1, le=MAX_KEEP)
    destination: str = Field(default="", max_length=1024, pattern=r"^(s3://[^/\s]+(/\S*)?)?$")
    """Empty: the data directory's ``backups`` folder; else ``s3://bucket/prefix``."""
    s3_endpoint: str = Field(default="", max_length=1024, pattern=r"^(https?://\S+)?$")


def backup_out(b: BackupRecord) -> dict[str, Any]:
    return {
        "id": b.id,
        "trigger": b.trigger.value,
        "status": b.status.value,
        "started_at": render.iso(b.started_at),
        "finished_at": render.iso(b.finished_at),
        "location": b.location,
        "size_bytes": b.size_bytes,
        "duration_s": b.duration_s,
        "volumes": b.volumes,
        "error": b.error,
        "created_by": b.created_by,
    }


def schedule_out(s: BackupSchedule) -> dict[str, Any]:
    return {
        "enabled": s.enabled,
        "interval_hours": s.interval_hours,
        "keep": s.keep,
        "destination": s.destination,
        "s3_endpoint": s.s3_endpoint,
    }


def endpoints(ctx: Context) -> list[Endpoint]:
    def runner() -> BackupRunner:
        if ctx.c.backups is None:
            raise unavailable("Backups")
        return ctx.c.backups

    async def list_backups(call: Call) -> Any:
        q: m.Paging = call.query
        items, total = await runner().list_backups(limit=q.limit, offset=q.offset)
        return render.page([backup_out(b) for b in items], total, q.offset, q.limit)

    async def run_backup(call: Call) -> Any:
        return backup_out(await runner().run_backup(created_by=call.user.id))

    async def get_schedule(call: Call) -> Any:
        return schedule_out(await runner().get_schedule())

    async def set_schedule(call: Call) -> Any:
        body: BackupScheduleBody = call.body
        schedule = BackupSchedule(**body.model_dump())
        schedule.validate()
        return schedule_out(await runner().set_schedule(schedule))

    tag = "system"
    admin = Access.ADMIN
    return [
        Endpoint(
            "GET",
            "/system/backups",
            list_backups,
            "Backups, newest first",
            tag,
            admin,
            query=m.Paging,
            response=BackupPage,
            errors=(403, 422, 503),
        ),
        Endpoint(
            "POST",
            "/system/backups",
            run_backup,
            "Start a backup now (it runs in the background)",
            tag,
            admin,
            response=BackupOut,
            status=202,
            body_required=False,
            errors=(403, 409, 503),
        ),
        Endpoint(
            "GET",
            "/system/backups/schedule",
            get_schedule,
            "The backup schedule and retention",
            tag,
            admin,
            response=BackupScheduleBody,
            errors=(403, 503),
        ),
        Endpoint(
            "PUT",
            "/system/backups/schedule",
            set_schedule,
            "Set the backup schedule and retention",
            tag,
            admin,
            body=BackupScheduleBody,
            response=BackupScheduleBody,
            errors=(400, 403, 422, 503),
        ),
    ]
