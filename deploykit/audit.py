"""The audit log: who did what, when, from where. Append-only.

Entries are made by a bus subscriber from domain events, never by handlers. Who acted travels on
the event itself (``Event.actor``): the HTTP layer runs each request ``acting_as`` the caller, and
the bus stamps every event published in that context with it. Events from background work (the
reconciler, builds) carry no actor and are the system's.

A payload that reaches the log keeps names only: ``audit_entry`` drops every key in
``SECRET_KEYS`` wherever it is nested, as a second line behind publishers that never put values
on events in the first place.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from deploykit.repository import redact_text

if TYPE_CHECKING:
    from deploykit.bus import Event

SECRET_KEYS = frozenset(
    {"value", "values", "password", "secret", "token", "private_key", "env_vars", "access_token", "refresh_token"}
)
"""Keys whose values never reach an audit entry."""

AUDITED_TYPES = frozenset(
    {
        "project.created",
        "project.deleted",
        "changes.applied",
        "deployment.created",
        "service.stopped",
        "service.started",
        "service.restarted",
        "domain.added",
        "domain.removed",
        "webhook.created",
        "webhook.deleted",
        "deploy_key.set",
        "deploy_key.deleted",
        "user.created",
        "user.updated",
        "user.deleted",
        "api_key.created",
        "api_key.deleted",
        "auth.login",
        "auth.login_failed",
        "auth.logout",
        "auth.profile_updated",
        "notification_channel.created",
        "notification_channel.updated",
        "notification_channel.deleted",
        "setting.changed",
    }
)
"""Event types (``EventType`` values) that are a person's action. Env var edits, service and
project settings reach the log as the ``changes.applied`` that made them take effect, with the
diff (env var keys, not values)."""


@dataclass(frozen=True)
class Actor:
    """Who made a request: a user, through a session or one of their API keys, from an address.
    A failed login has no user, only the email tried (``name``) and the address."""

    user_id: str | None = None
    name: str | None = None
    """The user's email (or the email a failed login tried)."""
    api_key_id: str | None = None
    api_key_name: str | None = None
    address: str | None = None


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("deploykit_actor", default=None)


def current_actor() -> Actor | None:
    """The actor of the request being served, or None for background work."""
    return _current.get()


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Run the block (and the tasks it starts) as ``actor``."""
    token = _current.set(actor)
    try:
        yield
    finally:
        _current.reset(token)


@dataclass
class AuditEntry:
    id: str
    at: datetime
    action: str
    """The event type, e.g. ``changes.applied``, ``auth.login.failed``."""
    actor: Actor | None = None
    project_id: str | None = None
    service_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditFilter:
    project_id: str | None = None
    user_id: str | None = None
    action: str | None = None
    """An exact action, or a prefix ending in ``.`` (``deployment.``)."""
    since: datetime | None = None
    projects_only: bool = False
    """Only entries about a project (what a member may see)."""
    offset: int = 0
    limit: int = 50


def redact(value: Any) -> Any:
    """``value`` with every key in ``SECRET_KEYS`` removed, at any depth."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if str(k) not in SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)  # credentials in a repository URL
    return value


def plain(value: Any) -> Any:
    """A JSON-ready copy of an event payload: dataclasses become dicts, datetimes ISO text, enums
    their values; anything else unknown its ``str``."""
    import dataclasses
    import enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def audited(event: Event) -> bool:
    """Whether ``event`` belongs in the audit log: everything a person did (it has an actor),
    and the logins that failed (whose actor has no user)."""
    return event.actor is not None and event.type in AUDITED_TYPES


def audit_entry(event: Event, *, id: str, at: datetime) -> AuditEntry:
    """The entry for ``event`` with secrets removed from its payload. A login's actor is only an
    address until it succeeds: the entry names the user (or the email a failed one tried)."""
    actor = event.actor
    if actor is not None and actor.user_id is None and event.type in ("auth.login", "auth.login_failed"):
        user_id = event.payload.get("user_id")
        actor = replace(actor, user_id=str(user_id) if user_id else None, name=event.payload.get("email"))
    return AuditEntry(
        id=id,
        at=event.at or at,
        action=event.type.value,
        actor=actor,
        project_id=event.project_id,
        service_id=event.service_id,
        details=redact(plain(event.payload)),
    )


class AuditService(Protocol):
    async def append(self, entry: AuditEntry) -> None:
        """Store one entry; entries are never changed or deleted through this service."""
        ...

    async def list_entries(self, filt: AuditFilter) -> tuple[list[AuditEntry], int]:
        """Newest first, and the total matching the filter."""
        ...
