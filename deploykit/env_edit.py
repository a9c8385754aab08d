"""Editing the variables of one scope as a whole: set and unset keys in one go (the Variables
form, a ``.env`` paste), staged as the fewest changes that get there.

Each key touched ends with at most one staged change in its scope: the edit first drops the
key's earlier staged changes, then stages a create, update or delete against the applied value
(or nothing, when the wanted value is the applied one). So changing a key's value never says
"already exists", and removing a key then adding it again shows it once, as changed.

A scope is extensible by design: project, group, service (and whatever scope comes next) are
all addressed as ``(scope, scope_id)``; the one special case is a service that is itself only
staged, whose variables have no ids yet and are addressed by key (``target_temp_id``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deploykit.envvar import Scope, validate_env_key, validate_env_value
from deploykit.errors import FieldErrors
from deploykit.pending_change import ChangeKind, PendingChange, PendingChangeCreate
from deploykit.staged_diff import EnvOp, ScopeDiff

ENV_KINDS = frozenset({ChangeKind.ENV_VAR_CREATE, ChangeKind.ENV_VAR_UPDATE, ChangeKind.ENV_VAR_DELETE})


@dataclass(frozen=True, kw_only=True)
class EnvEdit:
    """Set and unset variables of one scope. ``replace``: also unset every variable of the
    scope that ``values`` does not name (a ``.env`` edited as a whole)."""

    project_id: str
    scope: Scope
    scope_id: str
    values: Mapping[str, str] = field(default_factory=dict)
    unset: Collection[str] = ()
    replace: bool = False
    created_by: str | None = None

    def validate(self) -> None:
        errors = FieldErrors()
        for key, value in self.values.items():
            validate_env_key(key, errors, f"values.{key}")
            validate_env_value(value, errors, f"values.{key}")
        for key in self.unset:
            if key in self.values:
                errors.add(f"unset.{key}", "is also set in values")
        errors.raise_if_any()


@dataclass(frozen=True)
class AppliedVar:
    """A variable the scope has now: applied (``id``), or, for a service that is only staged,
    one it is created with (no id: addressed by key)."""

    value: str
    id: str | None = None


@dataclass(frozen=True)
class KeyEdit:
    """What an edit does to one key, against what was staged before it."""

    key: str
    op: EnvOp
    before: str | None
    after: str | None


@dataclass(frozen=True)
class EnvEditPlan:
    edits: list[KeyEdit]
    discard: list[str]
    """Staged changes the edit replaces."""
    stage: list[PendingChangeCreate]


@dataclass(frozen=True)
class EnvEditResult:
    """The edit's key changes, the changes staged and discarded, and the scope's staged diff
    after it (with references resolved and their problems)."""

    edits: list[KeyEdit]
    staged: list[PendingChange]
    discarded: list[str]
    diff: ScopeDiff | None


def env_change_key(change: PendingChange, scope: Scope, scope_id: str) -> str | None:
    """The key an env var change is about, when it is about this scope (else None)."""
    if change.kind not in ENV_KINDS:
        return None
    where: Mapping[str, Any] = change.payload if change.kind == ChangeKind.ENV_VAR_CREATE else change.before or {}
    if where.get("scope") != scope.value or where.get("scope_id") != scope_id:
        return None
    key = where.get("key")
    return key if isinstance(key, str) else None


def plan_env_edit(
    edit: EnvEdit, applied: Mapping[str, AppliedVar], staged: Iterable[PendingChange], temp_id: str | None = None
) -> EnvEditPlan:
    """The changes that take the scope from ``applied`` + ``staged`` to what ``edit`` wants.
    ``temp_id``: the scope is a service only staged under that id."""
    current = {key: var.value for key, var in applied.items()}
    by_key: dict[str, list[str]] = {}
    for change in staged:
        key = env_change_key(change, edit.scope, edit.scope_id)
        if key is None:
            continue
        by_key.setdefault(key, []).append(change.id)
        if change.kind == ChangeKind.ENV_VAR_DELETE:
            current.pop(key, None)
        else:
            current[key] = str(change.payload.get("value", ""))
    wanted: dict[str, str | None] = {key: None for key in edit.unset}
    if edit.replace:
        wanted.update({key: None for key in current})
    wanted.update(edit.values)
    edits: list[KeyEdit] = []
    discard: list[str] = []
    stage: list[PendingChangeCreate] = []
    for key, after in wanted.items():
        before = current.get(key)
        if before == after:
            continue
        edits.append(
            KeyEdit(
                key, EnvOp.ADDED if before is None else EnvOp.REMOVED if after is None else EnvOp.CHANGED, before, after
            )
        )
        discard += by_key.get(key, [])
        create = _change_to(edit, key, applied.get(key), after, temp_id)
        if create is not None:
            stage.append(create)
    return EnvEditPlan(edits, discard, stage)


def _change_to(
    edit: EnvEdit, key: str, applied: AppliedVar | None, after: str | None, temp_id: str | None
) -> PendingChangeCreate | None:
    """The one change from the applied state of ``key`` to ``after``; None when they agree."""
    if applied is None:
        if after is None:
            return None
        payload = {"scope": edit.scope.value, "scope_id": edit.scope_id, "key": key, "value": after}
        return PendingChangeCreate(
            edit.project_id, ChangeKind.ENV_VAR_CREATE, payload, target_temp_id=temp_id, created_by=edit.created_by
        )
    if applied.value == after:
        return None
    kind = ChangeKind.ENV_VAR_DELETE if after is None else ChangeKind.ENV_VAR_UPDATE
    body: dict[str, Any] = {"key": key} if after is None else {"key": key, "value": after}
    if applied.id is not None:
        return PendingChangeCreate(edit.project_id, kind, body, target_id=applied.id, created_by=edit.created_by)
    return PendingChangeCreate(edit.project_id, kind, body, target_temp_id=temp_id, created_by=edit.created_by)
