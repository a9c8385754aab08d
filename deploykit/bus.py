"""Events: what happened, published after commit to in-process subscribers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from deploykit.audit import Actor


class EventType(StrEnum):
    SERVICE_CREATED = "service.created"
    SERVICE_UPDATED = "service.updated"
    SERVICE_DELETED = "service.deleted"
    SERVICE_STATUS_CHANGED = "service.status.changed"
    SERVICE_STOPPED = "service.stopped"
    """A user asked the service to stay stopped (``set_service_stopped``)."""
    SERVICE_STARTED = "service.started"
    """A user asked a stopped service to run again."""
    DEPLOYMENT_CREATED = "deployment.created"
    DEPLOYMENT_BUILDING = "deployment.building"
    DEPLOYMENT_STARTING = "deployment.starting"
    DEPLOYMENT_HEALTHY = "deployment.healthy"
    DEPLOYMENT_FAILED = "deployment.failed"
    DEPLOYMENT_CANCELLED = "deployment.cancelled"
    CONTAINER_CREATED = "container.created"
    CONTAINER_DELETED = "container.deleted"
    BUILD_LOG = "build.log"
    """payload: ``deployment_id``, ``line`` (the text appended to its log, without the final
    newline; several lines at times), ``start`` and ``end`` (its positions: ``DeploymentLog``).
    Published by the store after the append commits, in the order of the appends."""
    PROJECT_CREATED = "project.created"
    PROJECT_DELETED = "project.deleted"
    PENDING_CHANGE_ADDED = "pending_change.added"
    """payload: ``change`` (the ``PendingChange``)."""
    PENDING_CHANGES_REMOVED = "pending_change.removed"
    """payload: ``ids`` of the changes discarded (or replaced by a later move)."""
    PENDING_CHANGES_CLEARED = "pending_change.cleared"
    """payload: ``ids``; every staged change of the project was discarded."""
    CHANGES_APPLIED = "changes.applied"
    """payload: the ``ApplyResult``'s fields and the ``user_id`` who applied."""
    NODE_UPSERTED = "node.upserted"
    """payload: ``node`` (the ``CanvasNode`` as stored)."""
    NODE_DELETED = "node.deleted"
    """payload: ``id`` of the node."""
    EDGE_UPSERTED = "edge.upserted"
    """payload: ``edge`` (the user's ``CanvasEdge`` as stored)."""
    EDGE_DELETED = "edge.deleted"
    """payload: ``id`` of the edge."""
    DOMAIN_ADDED = "domain.added"
    """payload: ``hostname`` (a custom domain of the event's service)."""
    DOMAIN_REMOVED = "domain.removed"
    """payload: ``hostname``."""
    HEALTH_CHANGED = "health.changed"
    """payload: ``deployment_id``, ``container_id``, ``replica_index``, ``healthy``, ``reason``."""
    SERVICE_CRASH_LOOP = "service.crash_loop"
    """payload: ``deployment_id``, ``replica_index``, ``restarts`` (recent, in the crash window)."""
    SERVICE_RESTARTED = "service.restarted"
    WEBHOOK_CREATED = "webhook.created"
    """payload: ``webhook_id``, ``provider`` (never the secret)."""
    WEBHOOK_DELETED = "webhook.deleted"
    PREVIEW_CREATED = "preview.created"
    """payload: ``preview_id``, ``number``, ``preview_service_id``, ``hostname``, ``head_sha``;
    the event's service is the previewed one. ``preview.updated`` (a new head) and
    ``preview.removed`` carry the same."""
    PREVIEW_UPDATED = "preview.updated"
    PREVIEW_REMOVED = "preview.removed"
    DEPLOY_KEY_SET = "deploy_key.set"
    """payload: ``fingerprint`` (never the private key)."""
    DEPLOY_KEY_DELETED = "deploy_key.deleted"
    USER_CREATED = "user.created"
    """payload: ``user_id``, ``email``, ``role``; ``user.updated`` names the ``fields`` changed."""
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    API_KEY_CREATED = "api_key.created"
    """payload: ``api_key_id``, ``description``, ``prefix``, ``user_id`` (never the token)."""
    API_KEY_DELETED = "api_key.deleted"
    LOGIN = "auth.login"
    """payload: ``user_id``, ``email``."""
    LOGIN_FAILED = "auth.login_failed"
    """payload: ``email`` tried (no user id: it may not exist)."""
    LOGOUT = "auth.logout"
    PROFILE_UPDATED = "auth.profile_updated"
    """payload: ``user_id``, ``fields`` changed (``password`` by name only)."""
    NOTIFICATION_CHANNEL_CREATED = "notification_channel.created"
    """payload: ``channel_id``, ``name``, ``kind``; ``updated`` names the ``fields`` changed."""
    NOTIFICATION_CHANNEL_UPDATED = "notification_channel.updated"
    NOTIFICATION_CHANNEL_DELETED = "notification_channel.deleted"
    DISK_HIGH = "system.disk_high"
    """payload: ``path``, ``percent``. Published by the daemon's disk watch."""
    BACKUP_FAILED = "backup.failed"
    """payload: ``backup_id``, ``trigger``, ``reason``: a backup the daemon ran failed."""
    SETTING_CHANGED = "setting.changed"
    """payload: ``key`` and the new value's fields (never a secret)."""


@dataclass(frozen=True)
class Event:
    type: EventType
    project_id: str | None = None
    service_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    actor: Actor | None = None
    """Who caused it: set by the bus from ``deploykit.audit.current_actor()`` when the publisher
    runs inside a request; None for the system's own work."""


class Subscription(Protocol):
    """An async iterator of events; ends after ``close()``."""

    @property
    def dropped(self) -> int:
        """Events lost because this subscriber's queue was full."""
        ...

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def __anext__(self) -> Event: ...

    def close(self) -> None: ...


class EventBus(Protocol):
    def publish(self, event: Event) -> None:
        """Never blocks and never raises; a full subscriber queue drops the event for it."""
        ...

    def subscribe(
        self,
        types: frozenset[EventType] | None = None,
        project_id: str | None = None,
        maxsize: int = 1000,
    ) -> Subscription:
        """Events of the given types (all when None) and project (all when None)."""
        ...
