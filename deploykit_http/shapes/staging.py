"""What is staged (env vars, pending changes, the result of applying them) and the canvas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from typing_extensions import TypedDict

from deploykit.canvas import CanvasEdge, CanvasNode, EdgeType, NodeType
from deploykit.env_edit import EnvEditResult
from deploykit.envvar import EnvVar, Scope
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange
from deploykit.repository import redact_source
from deploykit.staged_diff import DiffStatus, EnvOp, ScopeDiff


class EnvVarOut(TypedDict):
    id: str
    scope: Scope
    scope_id: str
    key: str
    value: str
    created_at: datetime | None
    updated_at: datetime | None


def env_var_out(e: EnvVar) -> EnvVarOut:
    return {
        "id": e.id,
        "scope": e.scope,
        "scope_id": e.scope_id,
        "key": e.key,
        "value": e.value,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    }


class EnvVarList(TypedDict):
    data: list[EnvVarOut]


class PendingChangeOut(TypedDict):
    id: str
    project_id: str
    kind: ChangeKind
    payload: dict[str, Any]
    target_id: str | None
    target_temp_id: str | None
    before: dict[str, Any] | None
    created_by: str | None
    created_at: datetime | None


def redacted_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A change's payload as every member may see it: a repository URL's credentials hidden."""
    if "source" not in payload:
        return payload
    return {**payload, "source": redact_source(payload["source"])}


def pending_change_out(c: PendingChange) -> PendingChangeOut:
    return {
        "id": c.id,
        "project_id": c.project_id,
        "kind": c.kind,
        "payload": redacted_payload(c.payload),
        "target_id": c.target_id,
        "target_temp_id": c.target_temp_id,
        "before": redacted_payload(c.before) if c.before is not None else None,
        "created_by": c.created_by,
        "created_at": c.created_at,
    }


class PendingChangeList(TypedDict):
    data: list[PendingChangeOut]


class DiscardOut(TypedDict):
    removed: list[str]


class ApplyResultOut(TypedDict):
    applied_count: int
    temp_id_to_service_id: dict[str, str]
    created_deployments: list[str]


def apply_result_out(r: ApplyResult) -> ApplyResultOut:
    return {
        "applied_count": r.applied_count,
        "temp_id_to_service_id": dict(r.temp_id_to_service_id),
        "created_deployments": list(r.created_deployments),
    }


class FieldDiffOut(TypedDict):
    field: str
    """Dotted for a nested field: ``source.image``, ``health_check.path``."""
    before: Any
    after: Any


class EnvDiffOut(TypedDict):
    key: str
    op: EnvOp
    before: str | None
    after: str | None
    change_ids: list[str]
    resolved: str | None
    """``after`` with its ``${{service.X}}`` references resolved, when it has any."""
    problems: list[str]
    """Why a reference in ``after`` does not resolve: it would be deployed literally."""


class ScopeDiffOut(TypedDict):
    scope: Scope
    id: str
    """The project's, service's (its temp id while only staged) or group node's id."""
    name: str
    """The project's name, or the service's name as it will be; empty for a group."""
    status: DiffStatus
    fields: list[FieldDiffOut]
    env: list[EnvDiffOut]
    change_ids: list[str]
    after: dict[str, Any] | None
    """A service as it will be: name, group_id and its config fields (as in the service's shape),
    drain_s for an applied one; null for a project, a group or a deleted service."""
    running: list[FieldDiffOut]
    """A service's fields whose value after this Deploy differs from the deployment it runs
    (before: the running value), staged or not: a config that failed to deploy shows here, and
    this Deploy deploys it. Such a service is listed even with nothing staged (no change_ids)."""


def scope_diff_out(d: ScopeDiff) -> ScopeDiffOut:
    return {
        "scope": d.scope,
        "id": d.id,
        "name": d.name,
        "status": d.status,
        "fields": [{"field": f.field, "before": f.before, "after": f.after} for f in d.fields],
        "env": [
            {
                "key": e.key,
                "op": e.op,
                "before": e.before,
                "after": e.after,
                "change_ids": list(e.change_ids),
                "resolved": e.resolved,
                "problems": list(e.problems),
            }
            for e in d.env
        ],
        "change_ids": list(d.change_ids),
        "after": d.after,
        "running": [{"field": f.field, "before": f.before, "after": f.after} for f in d.running],
    }


class PendingDiffOut(TypedDict):
    data: list[ScopeDiffOut]


class KeyEditOut(TypedDict):
    key: str
    op: EnvOp
    before: str | None
    after: str | None


class EnvEditOut(TypedDict):
    edits: list[KeyEditOut]
    """What the edit does to each key it changes, against what was staged before it."""
    staged: list[PendingChangeOut]
    discarded: list[str]
    """Ids of earlier staged changes the edit replaced."""
    diff: ScopeDiffOut | None
    """The scope's staged diff after the edit, references resolved (null: nothing staged)."""
    dry_run: bool


def env_edit_out(r: EnvEditResult, dry_run: bool) -> EnvEditOut:
    return {
        "edits": [{"key": e.key, "op": e.op, "before": e.before, "after": e.after} for e in r.edits],
        "staged": [pending_change_out(c) for c in r.staged],
        "discarded": list(r.discarded),
        "diff": scope_diff_out(r.diff) if r.diff is not None else None,
        "dry_run": dry_run,
    }


# --- canvas ---------------------------------------------------------------------------------------


class CanvasNodeOut(TypedDict):
    id: str
    project_id: str
    type: NodeType
    position_x: float
    position_y: float
    width: float | None
    height: float | None
    parent_id: str | None
    data: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


def node_out(n: CanvasNode) -> CanvasNodeOut:
    return {
        "id": n.id,
        "project_id": n.project_id,
        "type": n.type,
        "position_x": n.position_x,
        "position_y": n.position_y,
        "width": n.width,
        "height": n.height,
        "parent_id": n.parent_id,
        "data": n.data,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
    }


class CanvasEdgeOut(TypedDict):
    id: str
    project_id: str
    source: str
    target: str
    type: EdgeType
    managed: bool
    """Drawn by DeployKit from an env var's ``${{name.HOST}}`` reference: not editable."""
    data: dict[str, Any]
    created_at: datetime | None


def edge_out(e: CanvasEdge) -> CanvasEdgeOut:
    return {
        "id": e.id,
        "project_id": e.project_id,
        "source": e.source,
        "target": e.target,
        "type": e.type,
        "managed": e.managed,
        "data": e.data,
        "created_at": e.created_at,
    }
