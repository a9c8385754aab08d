"""Notification channels, their deliveries, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from typing_extensions import TypedDict

from deploykit.audit import Actor, AuditEntry
from deploykit.notification import Channel, ChannelKind, Delivery, DeliveryOutcome


class ChannelOut(TypedDict):
    id: str
    name: str
    kind: ChannelKind
    project_id: str | None
    events: list[str]
    enabled: bool
    settings: dict[str, Any]
    secrets_set: list[str]
    """The names of the secrets stored; their values are never returned."""
    created_at: datetime | None
    updated_at: datetime | None


def channel_out(c: Channel) -> ChannelOut:
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind,
        "project_id": c.project_id,
        "events": sorted(e.value for e in c.events),
        "enabled": c.enabled,
        "settings": c.settings,
        "secrets_set": sorted(c.secrets),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


class ChannelList(TypedDict):
    data: list[ChannelOut]


class NotificationDeliveryOut(TypedDict):
    id: str
    channel_id: str
    event: str
    outcome: DeliveryOutcome
    message: str
    attempts: int
    error: str | None
    created_at: datetime | None
    finished_at: datetime | None


def delivery_out(d: Delivery) -> NotificationDeliveryOut:
    return {
        "id": d.id,
        "channel_id": d.channel_id,
        "event": d.event.value,
        "outcome": d.outcome,
        "message": d.message,
        "attempts": d.attempts,
        "error": d.error,
        "created_at": d.created_at,
        "finished_at": d.finished_at,
    }


class NotificationDeliveryList(TypedDict):
    data: list[NotificationDeliveryOut]


class ActorOut(TypedDict):
    user_id: str | None
    name: str | None
    """The user's email, or the email a failed login tried."""
    api_key_id: str | None
    api_key_name: str | None
    address: str | None


def actor_out(a: Actor) -> ActorOut:
    return {
        "user_id": a.user_id,
        "name": a.name,
        "api_key_id": a.api_key_id,
        "api_key_name": a.api_key_name,
        "address": a.address,
    }


class AuditEntryOut(TypedDict):
    id: str
    at: datetime
    action: str
    actor: ActorOut | None
    project_id: str | None
    service_id: str | None
    details: dict[str, Any]


def audit_entry_out(e: AuditEntry) -> AuditEntryOut:
    return {
        "id": e.id,
        "at": e.at,
        "action": e.action,
        "actor": None if e.actor is None else actor_out(e.actor),
        "project_id": e.project_id,
        "service_id": e.service_id,
        "details": e.details,
    }


class AuditPage(TypedDict):
    data: list[AuditEntryOut]
    total_count: int
    offset: int
    limit: int
