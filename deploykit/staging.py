"""Staging: what the REST routes and the canvas WebSocket both call to stage, discard and apply
changes (``StagingService``), and the rules about the staged log that need no storage.

The replay and validation of the log is ``plan.py``; this module holds the rules around it: which
changes a discard takes along, which earlier moves a new move replaces, how a staged service is
addressed before it has an id, and what its canvas node shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from deploykit.canvas import CanvasNode
from deploykit.env_edit import EnvEdit, EnvEditResult
from deploykit.envvar import EnvVarCreate, Scope
from deploykit.errors import FieldErrors, ValidationError, not_found
from deploykit.pending_change import ChangeKind, PendingChange, PendingChangeCreate, PendingChangeService
from deploykit.repository import redact_source
from deploykit.service import ServiceConfig, ServiceCreate
from deploykit.staged_diff import ScopeDiff

STAGED_PREVIEW = frozenset({"source", "port"})
"""Node data a staged service carries so the canvas can show it before it exists."""


def target_key(change: PendingChange | PendingChangeCreate) -> str | None:
    return change.target_id if change.target_id is not None else change.target_temp_id


def superseded_moves(existing: Iterable[PendingChange], move: PendingChangeCreate) -> list[PendingChange]:
    """Only the latest move of a service counts: the earlier ones it replaces, oldest first."""
    key = target_key(move)
    return [c for c in existing if c.kind == ChangeKind.SERVICE_MOVE and target_key(c) == key]


def superseding_payload(earlier: list[PendingChange], move: PendingChangeCreate) -> dict[str, Any]:
    """``move``'s payload, with the origin of the first move it replaces: discarding the last of a
    service's moves puts its node back where it was before the first."""
    payload = dict(move.payload)
    if earlier and isinstance(earlier[0].payload, dict) and earlier[0].payload.get("origin") is not None:
        payload["origin"] = earlier[0].payload["origin"]
    return payload


def with_dependents(changes: list[PendingChange], id: str) -> list[PendingChange]:
    """The change ``id`` and those that cannot stand without it (a staged service's later
    changes go with its creation). Raises ``not_found``."""
    chosen = next((c for c in changes if c.id == id), None)
    if chosen is None:
        raise not_found("Pending change")
    removed = [chosen]
    if chosen.kind == ChangeKind.SERVICE_CREATE and chosen.target_temp_id is not None:
        removed += [c for c in changes if c.id != id and c.target_temp_id == chosen.target_temp_id]
    return removed


def staged_creation(changes: Iterable[PendingChange], temp_id: str) -> PendingChange | None:
    return next((c for c in changes if c.kind == ChangeKind.SERVICE_CREATE and c.target_temp_id == temp_id), None)


def staged_node_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What a staged service's node shows on the canvas before the service exists."""
    source = redact_source(payload.get("source"))  # every member sees nodes: never a repository's token
    return {"name": payload["name"], "staged": True, "source": source, "port": payload.get("port")}


def applied_node_data(staged: Mapping[str, Any], name: str, service_id: str) -> dict[str, Any]:
    """A staged node's data once its service is applied: the preview is the service's own data
    now, so only what users set on the node is kept."""
    kept = {k: v for k, v in staged.items() if k not in STAGED_PREVIEW}
    return {**kept, "name": name, "service_id": service_id, "staged": False}


def validate_env_map(env: Mapping[str, str], project_id: str) -> None:
    errors = FieldErrors()
    for key, value in env.items():
        try:
            EnvVarCreate(project_id=project_id, scope=Scope.SERVICE, scope_id="-", key=key, value=value).validate()
        except ValidationError as exc:
            errors.merge(FieldErrors(exc.fields), prefix=f"env_vars.{key}.")
    errors.raise_if_any()


@dataclass(frozen=True)
class ServiceTarget:
    """A service that staged changes can address: applied (``target_id``) or itself only staged
    for creation (``target_temp_id``), with the config it has or will have."""

    project_id: str
    target_id: str | None
    target_temp_id: str | None
    name: str
    config: ServiceConfig

    @property
    def key(self) -> str:
        return self.target_id or self.target_temp_id or ""

    @classmethod
    def staged(cls, change: PendingChange) -> ServiceTarget:
        assert change.target_temp_id is not None
        config = ServiceConfig.from_dict(change.payload)
        return cls(change.project_id, None, change.target_temp_id, str(change.payload.get("name", "")), config)


@dataclass(frozen=True, kw_only=True)
class ServiceStage:
    """A new service to stage, with its env vars and where its node goes on the canvas."""

    project_id: str
    name: str
    config: ServiceConfig
    group_id: str | None = None
    position: tuple[float, float] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    public: bool = True
    """False: no generated public domain (a database from a preset)."""
    created_by: str | None = None

    def validate(self) -> None:
        ServiceCreate(project_id=self.project_id, name=self.name, config=self.config, group_id=self.group_id).validate()
        validate_env_map(self.env, self.project_id)

    def change(self) -> PendingChangeCreate:
        x, y = self.position if self.position is not None else (0.0, 0.0)
        payload = {
            "name": self.name,
            **self.config.to_dict(),
            "group_id": self.group_id,
            "env_vars": dict(self.env),
            "x": x,
            "y": y,
            **({} if self.public else {"public": False}),
        }
        return PendingChangeCreate(
            project_id=self.project_id, kind=ChangeKind.SERVICE_CREATE, payload=payload, created_by=self.created_by
        )


@dataclass(frozen=True)
class StagedService:
    change: PendingChange
    node: CanvasNode | None

    @property
    def temp_id(self) -> str:
        assert self.change.target_temp_id is not None
        return self.change.target_temp_id


class StagingService(PendingChangeService, Protocol):
    """The one way to stage, discard and apply. The implementation publishes, after commit,
    ``pending_change.added|removed|cleared``, ``node.upserted|deleted`` for the staged nodes it
    touches, and ``changes.applied``: nobody else tells the canvas or the reconciler."""

    async def stage_service(self, stage: ServiceStage) -> StagedService:
        """Validate and stage ``service.create`` with its env vars; its canvas node appears
        under the temp id. Raises ``invalid``, ``conflict``, ``not_found``."""
        ...

    async def stage_services(
        self, stages: Sequence[ServiceStage], edges: Sequence[tuple[int, int]] = ()
    ) -> list[StagedService]:
        """Stage several services at once, all or nothing, with user canvas edges between their
        nodes (``edges``: indexes into ``stages``, from dependent to dependency). Raises like
        ``stage_service``; then nothing is staged."""
        ...

    async def get_service_target(self, project_id: str, service_id: str) -> ServiceTarget:
        """An applied service of the project, or one staged for creation under that temp id.
        Raises ``not_found``."""
        ...

    async def stage_env_edit(self, edit: EnvEdit, *, dry_run: bool = False) -> EnvEditResult:
        """Set and unset variables of one scope (``deploykit.env_edit``): replace the touched
        keys' earlier staged changes with at most one each, all or nothing. ``dry_run``: say what
        it would do, stage nothing. Raises ``invalid``, ``not_found``."""
        ...

    async def diff_pending_changes(self, project_id: str) -> list[ScopeDiff]:
        """What the staged changes would do (``deploykit.staged_diff``), replayed by the same
        ``Plan`` an apply runs. Raises ``not_found``."""
        ...
