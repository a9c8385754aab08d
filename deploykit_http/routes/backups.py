"""Backups (admins only): the list with size, duration and outcome, an on-demand run, and the
schedule with its retention."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from deploykit.backup_record import MAX_INTERVAL_HOURS, MAX_KEEP, BackupRunner, BackupSchedule
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.shapes import page
from deploykit_http.shapes.system import BackupOut, BackupPage, BackupScheduleOut, backup_out, schedule_out


class BackupScheduleBody(m.Model):
    enabled: bool = False
    interval_hours: int = Field(default=24, ge=1, le=MAX_INTERVAL_HOURS)
    keep: int = Field(default=7, ge=1, le=MAX_KEEP)
    destination: str = Field(default="", max_length=1024, pattern=r"^(s3://[^/\s]+(/\S*)?)?$")
    """Empty: the data directory's ``backups`` folder; else ``s3://bucket/prefix``."""
    s3_endpoint: str = Field(default="", max_length=1024, pattern=r"^(https?://\S+)?$")


def endpoints(ctx: Context) -> list[Endpoint]:
    def runner() -> BackupRunner:
        if ctx.c.backups is None:
            raise unavailable("Backups")
        return ctx.c.backups

    async def list_backups(call: Call) -> Any:
        q: m.Paging = call.query
        items, total = await runner().list_backups(limit=q.limit, offset=q.offset)
        return page([backup_out(b) for b in items], total, q.offset, q.limit)

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
            response=BackupScheduleOut,
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
            response=BackupScheduleOut,
            errors=(400, 403, 422, 503),
        ),
    ]
