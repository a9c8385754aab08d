"""Request models of notification channels, their deliveries, and the audit log (the response
shapes are in ``shapes.notify``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from deploykit_http.models import MAX_OFFSET, Body, Model

Id = str

ChannelKindIn = Literal["webhook", "slack", "discord", "email"]
EventName = Literal[
    "deployment.failed",
    "build.failed",
    "deployment.healthy",
    "service.unhealthy",
    "service.recovered",
    "service.crash_loop",
    "system.disk_high",
    "backup.failed",
]


class ChannelCreateIn(Body):
    name: str
    kind: ChannelKindIn
    project_id: Id | None = None
    """None: a global channel, which hears every project (and the system's events)."""
    events: list[EventName] | None = None
    """None: every event but ``deployment.healthy`` (opt-in)."""
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    """webhook: ``url``; email: ``host``, ``port``, ``security`` (starttls|tls|none), ``username``,
    ``from_address``, ``to`` (a list). Slack and Discord have none."""
    secrets: dict[str, str] = Field(default_factory=dict)
    """webhook: ``secret`` (the HMAC key); slack/discord: ``url``; email: ``password``. Sealed,
    never shown again."""


class ChannelUpdateIn(Body):
    name: str | None = None
    events: list[EventName] | None = None
    enabled: bool | None = None
    settings: dict[str, Any] | None = None
    """Merged key by key; a key set to null is removed."""
    secrets: dict[str, str] | None = None
    """Merged key by key; secrets left out are kept."""


class DeliveryQuery(Model):
    limit: int = Field(default=50, ge=1, le=200)


class AuditQuery(Model):
    project: Id | None = Field(default=None, max_length=64)
    user: Id | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=100, pattern=r"^[a-z_.]+$")
    """An action (``auth.login_failed``) or a prefix ending in a dot (``deployment.``)."""
    since: datetime | None = None
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    limit: int = Field(default=50, ge=1, le=200)
