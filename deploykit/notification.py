"""Notifications: channels an admin configures (a signed webhook, Slack, Discord, e-mail), the
events they hear, and the record of every delivery.

A channel is global (``project_id`` None) or belongs to one project. Its secrets (a Slack or
Discord URL, which embeds a token; a webhook's signing secret; an SMTP password) are kept apart
from its plain settings: sealed at rest and never shown, only their names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from deploykit.bus import Event, EventType
from deploykit.errors import FieldErrors


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    DISCORD = "discord"
    EMAIL = "email"


class NotificationKind(StrEnum):
    DEPLOYMENT_FAILED = "deployment.failed"
    BUILD_FAILED = "build.failed"
    DEPLOYMENT_HEALTHY = "deployment.healthy"
    SERVICE_UNHEALTHY = "service.unhealthy"
    SERVICE_RECOVERED = "service.recovered"
    CRASH_LOOP = "service.crash_loop"
    DISK_HIGH = "system.disk_high"
    BACKUP_FAILED = "backup.failed"
    TEST = "test"


DEFAULT_EVENTS = frozenset(NotificationKind) - {NotificationKind.DEPLOYMENT_HEALTHY, NotificationKind.TEST}
"""What a channel hears unless told otherwise; a healthy deployment is opt-in."""
SUBSCRIBABLE = frozenset(NotificationKind) - {NotificationKind.TEST}


class SMTPSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class DeliveryOutcome(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


SETTINGS: dict[ChannelKind, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required plain settings, required secrets)
    ChannelKind.WEBHOOK: (frozenset({"url"}), frozenset({"secret"})),
    ChannelKind.SLACK: (frozenset(), frozenset({"url"})),
    ChannelKind.DISCORD: (frozenset(), frozenset({"url"})),
    ChannelKind.EMAIL: (frozenset({"host", "port", "from_address", "to"}), frozenset()),
}
ALLOWED: dict[ChannelKind, tuple[frozenset[str], frozenset[str]]] = {
    ChannelKind.WEBHOOK: (frozenset({"url"}), frozenset({"secret"})),
    ChannelKind.SLACK: (frozenset(), frozenset({"url"})),
    ChannelKind.DISCORD: (frozenset(), frozenset({"url"})),
    ChannelKind.EMAIL: (
        frozenset({"host", "port", "security", "username", "from_address", "to", "timeout_s"}),
        frozenset({"password"}),
    ),
}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_NAME = 100


@dataclass
class Channel:
    id: str
    name: str
    kind: ChannelKind
    project_id: str | None = None
    """None: every project's events (and the system's)."""
    events: frozenset[NotificationKind] = DEFAULT_EVENTS
    enabled: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def hears(self, note: Notification) -> bool:
        if not self.enabled or (note.event not in self.events and note.event is not NotificationKind.TEST):
            return False
        return self.project_id is None or self.project_id == note.project_id


def _validate_settings(
    kind: ChannelKind, settings: dict[str, Any], secrets: dict[str, str], errors: FieldErrors, *, partial: bool
) -> None:
    required, required_secrets = SETTINGS[kind]
    allowed, allowed_secrets = ALLOWED[kind]
    for key in settings:
        if key not in allowed:
            errors.add(f"settings.{key}", f"is not a setting of a {kind.value} channel")
    for key in secrets:
        if key not in allowed_secrets:
            errors.add(f"secrets.{key}", f"is not a secret of a {kind.value} channel")
    if not partial:
        for key in sorted(required - settings.keys()):
            errors.add(f"settings.{key}", "is required")
        for key in sorted(required_secrets - secrets.keys()):
            errors.add(f"secrets.{key}", "is required")
    for key in ("url",):
        value = settings.get(key, secrets.get(key))
        if value is not None and (not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value)):
            errors.add(f"{'settings' if key in settings else 'secrets'}.{key}", "must be an http(s) URL")
    port = settings.get("port")
    if "port" in settings and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        errors.add("settings.port", "must be a port number (1-65535)")
    if "timeout_s" in settings and (
        not isinstance(settings["timeout_s"], int | float) or not 1 <= settings["timeout_s"] <= 120
    ):
        errors.add("settings.timeout_s", "must be a number of seconds from 1 to 120")
    if "security" in settings and settings["security"] not in {s.value for s in SMTPSecurity}:
        errors.add("settings.security", "must be starttls, tls or none")
    if "host" in settings and (not isinstance(settings["host"], str) or not settings["host"].strip()):
        errors.add("settings.host", "must be a host name")
    if "from_address" in settings and not EMAIL_RE.match(str(settings["from_address"])):
        errors.add("settings.from_address", "must be an e-mail address")
    if "to" in settings:
        to = settings["to"]
        if not isinstance(to, list) or not to or not all(isinstance(a, str) and EMAIL_RE.match(a) for a in to):
            errors.add("settings.to", "must be a non-empty list of e-mail addresses")
    for key, value in secrets.items():
        if not isinstance(value, str) or not value:
            errors.add(f"secrets.{key}", "must be a non-empty string")


def _validate_name(name: str, errors: FieldErrors) -> None:
    if not name.strip():
        errors.add("name", "is required")
    elif len(name) > MAX_NAME:
        errors.add("name", f"must be at most {MAX_NAME} characters")


@dataclass(frozen=True)
class ChannelCreate:
    name: str
    kind: ChannelKind
    project_id: str | None = None
    events: frozenset[NotificationKind] = DEFAULT_EVENTS
    enabled: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        errors = FieldErrors()
        _validate_name(self.name, errors)
        if NotificationKind.TEST in self.events:
            errors.add("events", "test is not an event to subscribe to")
        _validate_settings(self.kind, self.settings, self.secrets, errors, partial=False)
        errors.raise_if_any()


@dataclass(frozen=True)
class ChannelUpdate:
    """Fields left None are kept; ``settings`` and ``secrets`` are merged key by key (a key set to
    None in ``settings`` is removed)."""

    name: str | None = None
    events: frozenset[NotificationKind] | None = None
    enabled: bool | None = None
    settings: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None

    def apply(self, channel: Channel) -> Channel:
        """The channel after this update, validated whole. Raises ``invalid``."""
        errors = FieldErrors()
        settings = dict(channel.settings)
        for key, value in (self.settings or {}).items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        secrets = {**channel.secrets, **(self.secrets or {})}
        name = channel.name if self.name is None else self.name
        events = channel.events if self.events is None else self.events
        _validate_name(name, errors)
        if NotificationKind.TEST in events:
            errors.add("events", "test is not an event to subscribe to")
        _validate_settings(channel.kind, self.settings or {}, self.secrets or {}, errors, partial=True)
        missing = FieldErrors()
        _validate_settings(channel.kind, settings, secrets, missing, partial=False)
        for key, reasons in missing.fields.items():
            if "is required" in reasons:
                errors.add(key, "is required")
        errors.raise_if_any()
        return Channel(
            id=channel.id,
            name=name,
            kind=channel.kind,
            project_id=channel.project_id,
            events=events,
            enabled=channel.enabled if self.enabled is None else self.enabled,
            settings=settings,
            secrets=secrets,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )

    def changed_fields(self) -> list[str]:
        """Names of what this update touches (secrets by name only), for the audit log."""
        out = [n for n in ("name", "events", "enabled") if getattr(self, n) is not None]
        out += [f"settings.{k}" for k in sorted(self.settings or {})]
        out += [f"secrets.{k}" for k in sorted(self.secrets or {})]
        return out


@dataclass(frozen=True)
class ChannelFilter:
    project_id: str | None = None
    """Channels of this project and the global ones; None: every channel."""


@dataclass(frozen=True)
class Notification:
    """What a channel is told. ``project``/``service`` are names, for people; the ids are there
    for machines."""

    event: NotificationKind
    message: str
    at: datetime
    project_id: str | None = None
    project: str | None = None
    service_id: str | None = None
    service: str | None = None
    deployment_id: str | None = None
    url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The generic webhook's JSON body."""
        return {
            "event": self.event.value,
            "project": self.project,
            "project_id": self.project_id,
            "service": self.service,
            "service_id": self.service_id,
            "deployment": self.deployment_id,
            "message": self.message,
            "url": self.url,
            "at": self.at.isoformat(),
            "details": self.details,
        }

    @property
    def title(self) -> str:
        where = "/".join(p for p in (self.project, self.service) if p)
        return f"[DeployKit] {self.event.value}" + (f": {where}" if where else "")


@dataclass
class Delivery:
    id: str
    channel_id: str
    event: NotificationKind
    outcome: DeliveryOutcome
    message: str
    attempts: int = 0
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


def notification_kind(event: Event) -> NotificationKind | None:
    """Which notification a bus event is, if any. A failed deployment whose reason says its build
    failed is a build failure (``BuildPipeline`` words it so)."""
    p = event.payload
    if event.type == EventType.DEPLOYMENT_FAILED:
        reason = str(p.get("reason") or "")
        return (
            NotificationKind.BUILD_FAILED if reason.startswith("build failed") else NotificationKind.DEPLOYMENT_FAILED
        )
    if event.type == EventType.DEPLOYMENT_HEALTHY:
        return NotificationKind.DEPLOYMENT_HEALTHY
    if event.type == EventType.HEALTH_CHANGED:
        return NotificationKind.SERVICE_RECOVERED if p.get("healthy") else NotificationKind.SERVICE_UNHEALTHY
    return {
        EventType.SERVICE_CRASH_LOOP: NotificationKind.CRASH_LOOP,
        EventType.DISK_HIGH: NotificationKind.DISK_HIGH,
        EventType.BACKUP_FAILED: NotificationKind.BACKUP_FAILED,
    }.get(event.type)


NOTIFYING_TYPES = frozenset(
    {
        EventType.DEPLOYMENT_FAILED,
        EventType.DEPLOYMENT_HEALTHY,
        EventType.HEALTH_CHANGED,
        EventType.SERVICE_CRASH_LOOP,
        EventType.DISK_HIGH,
        EventType.BACKUP_FAILED,
    }
)


class ChannelService(Protocol):
    async def get_channel(self, id: str) -> Channel:
        """With its secrets unsealed. Raises ``not_found``."""
        ...

    async def list_channels(self, filt: ChannelFilter) -> list[Channel]:
        """Oldest first."""
        ...

    async def create_channel(self, create: ChannelCreate) -> Channel:
        """Raises ``invalid``, ``not_found`` (project)."""
        ...

    async def update_channel(self, id: str, upd: ChannelUpdate) -> Channel:
        """Raises ``invalid``, ``not_found``."""
        ...

    async def delete_channel(self, id: str) -> None:
        """Its deliveries go with it. Raises ``not_found``."""
        ...

    async def record_delivery(self, delivery: Delivery) -> Delivery:
        """Insert or replace (by id) one delivery's record."""
        ...

    async def list_deliveries(self, channel_id: str, limit: int = 50) -> list[Delivery]:
        """Newest first. Raises ``not_found`` for an unknown channel."""
        ...


class Sender(Protocol):
    """Delivers one notification over one kind of channel."""

    async def send(self, channel: Channel, note: Notification) -> None:
        """Raises ``unavailable`` (with the receiver's answer or the network error) on failure."""
        ...


class ChannelTester(Protocol):
    async def send_test(self, channel_id: str) -> Delivery:
        """Send a test notification now (with retries) and return its recorded delivery.
        Raises ``not_found``."""
        ...
