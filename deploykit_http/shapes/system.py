"""The daemon's health, introspection and backups (admins), and database presets."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from typing_extensions import TypedDict

from deploykit.backup_record import BackupRecord, BackupSchedule, BackupStatus, BackupTrigger
from deploykit.preset import RenderedPreset
from deploykit_http.shapes.services import ConfigOut, config_out


class HealthServicesOut(TypedDict):
    database: bool
    docker: bool
    ingress: bool


class PublicPortsOut(TypedDict):
    """Where the ingress serves the deployed services (null: that listener is off), so that the
    UI's links to a service carry a non-default port."""

    http: int | None
    https: int | None


class HealthOut(TypedDict):
    status: Literal["ok", "degraded"]
    version: str
    services: HealthServicesOut
    public_ports: PublicPortsOut


class SystemAboutOut(TypedDict):
    version: str
    python: str
    docker: dict[str, Any]
    database: dict[str, Any]
    ingress: dict[str, Any]


class SystemStatusOut(TypedDict):
    host: dict[str, Any]
    docker: dict[str, Any]
    ingress: dict[str, Any]


class PresetServiceOut(ConfigOut):
    """A preset's ``config`` with the service's name: a ``ServiceCreateIn`` body."""

    name: str
    public: bool
    """Always false: a database gets no public domain."""


class PresetOut(TypedDict):
    id: str
    name: str
    description: str
    service_name: str
    config: ConfigOut
    service: PresetServiceOut
    env_vars: dict[str, str]
    connection_url: str


def preset_out(p: RenderedPreset) -> PresetOut:
    config = config_out(p.config)
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "service_name": p.service_name,
        "config": config,
        "service": {"name": p.service_name, **config, "public": False},
        "env_vars": p.env_vars,
        "connection_url": p.connection_url,
    }


class PresetList(TypedDict):
    data: list[PresetOut]


class BackupOut(TypedDict):
    id: str
    trigger: BackupTrigger
    status: BackupStatus
    started_at: datetime
    finished_at: datetime | None
    location: str | None
    size_bytes: int | None
    duration_s: float | None
    volumes: int
    error: str | None
    created_by: str | None


def backup_out(b: BackupRecord) -> BackupOut:
    return {
        "id": b.id,
        "trigger": b.trigger,
        "status": b.status,
        "started_at": b.started_at,
        "finished_at": b.finished_at,
        "location": b.location,
        "size_bytes": b.size_bytes,
        "duration_s": b.duration_s,
        "volumes": b.volumes,
        "error": b.error,
        "created_by": b.created_by,
    }


class BackupPage(TypedDict):
    data: list[BackupOut]
    total_count: int
    offset: int
    limit: int


class BackupScheduleOut(TypedDict):
    enabled: bool
    interval_hours: int
    keep: int
    destination: str
    """Empty: the data directory's ``backups`` folder; else ``s3://bucket/prefix``."""
    s3_endpoint: str


def schedule_out(s: BackupSchedule) -> BackupScheduleOut:
    return {
        "enabled": s.enabled,
        "interval_hours": s.interval_hours,
        "keep": s.keep,
        "destination": s.destination,
        "s3_endpoint": s.s3_endpoint,
    }
