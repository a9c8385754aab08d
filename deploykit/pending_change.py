"""Staged edits: deploy-impacting changes wait here until the user presses Deploy (apply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class ChangeKind(StrEnum):
    PROJECT_UPDATE = "project.update"
    SERVICE_CREATE = "service.create"
    SERVICE_UPDATE = "service.update"
    SERVICE_DELETE = "service.delete"
    SERVICE_MOVE = "service.move"
    ENV_VAR_CREATE = "env_var.create"
    ENV_VAR_UPDATE = "env_var.update"
    ENV_VAR_DELETE = "env_var.delete"


@dataclass
class PendingChange:
    """One staged edit.

    ``target_id`` is the applied entity the change is about (service, env var, project), or None
    for a service that does not exist yet; ``target_temp_id`` names a staged service so that later
    changes (its env vars, an update) can refer to it before it has a real id. ``payload`` is the
    change's JSON body (a ``ServiceConfig``/``ServiceUpdate`` dict, an env var, a new name), and
    ``before`` what the entity looked like when the change was staged, for showing a diff.
    """

    id: str
    project_id: str
    kind: ChangeKind
    payload: dict[str, Any]
    target_id: str | None = None
    target_temp_id: str | None = None
    before: dict[str, Any] | None = None
    created_by: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class PendingChangeCreate:
    project_id: str
    kind: ChangeKind
    payload: dict[str, Any] = field(default_factory=dict)
    target_id: str | None = None
    target_temp_id: str | None = None
    created_by: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    applied_count: int
    temp_id_to_service_id: dict[str, str]
    created_deployments: list[str]


class PendingChangeService(Protocol):
    async def list_pending_changes(self, project_id: str) -> list[PendingChange]:
        """Oldest first. Raises ``not_found`` for an unknown project."""
        ...

    async def append_pending_change(self, create: PendingChangeCreate) -> PendingChange:
        """Validate and stage one change. A ``service.create`` without ``target_temp_id`` gets one.
        Raises ``invalid`` (bad payload), ``not_found`` (unknown target), ``conflict`` (a service
        name that collides case-insensitively with the effective names)."""
        ...

    async def discard_pending_changes(self, project_id: str, id: str | None = None) -> list[str]:
        """Discard one change (and the ones that depend on it) or all; returns the ids removed.
        Raises ``not_found``."""
        ...

    async def apply_pending_changes(
        self, project_id: str, user_id: str | None, actor: str | None = None
    ) -> ApplyResult:
        """Apply every staged change in one transaction and create the deployments they imply
        (``actor``: who deployed, as their cards say).
        On any error nothing changes (data and staged log alike) and the domain error is raised:
        ``conflict``, ``invalid``, ``not_found``."""
        ...
