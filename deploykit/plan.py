"""A project's staged log as a plan: its rules, with no storage behind them.

A ``Plan`` starts from the applied state of a project (its services, env var keys and groups) and
replays the staged changes over it in order. Each change is validated against the state the
earlier ones left (its target exists, its payload is valid, no two services would share a name
case-insensitively) and comes out as a ``Step``: its normalized payload, its targets, what the
target looked like before (for showing a diff) and the service it leaves behind.

Appending a change replays the log leniently (a change the world moved away from is skipped) and
stages the new one strictly; applying replays the whole log strictly and hands the steps to the
store, which persists them in order. ``deploy_order`` is the diff that decides which services get
a new deployment. Nothing here does I/O: ``tests/domain/test_plan.py`` tests it without a database.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from deploykit.envvar import Scope, validate_env_key, validate_env_value
from deploykit.errors import CONFLICT, Error, FieldErrors, ValidationError, not_found
from deploykit.pending_change import ChangeKind, PendingChange
from deploykit.project import ProjectUpdate
from deploykit.service import (
    Service,
    ServiceConfig,
    ServiceCreate,
    ServiceUpdate,
    Unset,
    conflict_message,
    name_key,
    validate_service_name,
)

log = logging.getLogger(__name__)

TEMP_PREFIX = "tmp_"


def new_temp_id() -> str:
    return TEMP_PREFIX + secrets.token_hex(8)


def malformed(field_name: str = "payload") -> ValidationError:
    return ValidationError({field_name: ["is malformed"]})


def parse_config(payload: dict[str, Any]) -> ServiceConfig:
    """A ``ServiceConfig`` from a JSON payload, validated. Raises ``invalid``."""
    try:
        config = ServiceConfig.from_dict(payload)
        errors = FieldErrors()
        config.validate(errors)
    except Error:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise malformed() from exc
    errors.raise_if_any()
    return config


def parse_update(payload: dict[str, Any]) -> ServiceUpdate:
    try:
        return ServiceUpdate.from_dict(payload)
    except Error:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise malformed() from exc


def updated_config(upd: ServiceUpdate, config: ServiceConfig) -> ServiceConfig:
    """``config`` with ``upd`` laid over it, normalized and validated. Raises ``invalid``."""
    errors = FieldErrors()
    if upd.name is not None:
        if not isinstance(upd.name, str):
            raise malformed("name")
        validate_service_name(upd.name, errors)
    if upd.drain_s is not None and (not isinstance(upd.drain_s, int | float) or not 0 <= upd.drain_s <= 3600):
        errors.add("drain_s", "must be between 0 and 3600 seconds")
    errors.raise_if_any()
    try:
        merged = upd.apply_to(config)
        return parse_config(merged.to_dict())
    except Error:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise malformed() from exc


def parse_create(project_id: str, payload: dict[str, Any]) -> tuple[str, ServiceConfig]:
    name = payload.get("name")
    if not isinstance(name, str):
        raise ValidationError({"name": ["must not be empty"]})
    config = parse_config(payload)
    ServiceCreate(project_id=project_id, name=name, config=config).validate()
    return name, config


def parse_env_vars(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise malformed("env_vars")
    errors = FieldErrors()
    for key, val in value.items():
        validate_env_key(str(key), errors, f"env_vars.{key}")
        if not isinstance(val, str):
            errors.add(f"env_vars.{key}", "must be a string")
        else:
            validate_env_value(val, errors, f"env_vars.{key}")
    errors.raise_if_any()
    return {str(k): str(v) for k, v in value.items()}


def as_float(value: Any, field_name: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(field_name)
    return float(value)


def optional_id(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise malformed(key)
    return value


def parse_origin(value: Any) -> dict[str, Any] | None:
    """A move's ``origin``: where the service's node was before it was dragged (its group and its
    position there), so that discarding the move puts the node back. Optional; raises ``invalid``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise malformed("origin")
    at: dict[str, float] = {}
    for axis in ("x", "y"):
        v = value.get(axis)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValidationError({f"origin.{axis}": ["must be a finite number"]})
        at[axis] = float(v)
    parent = value.get("parent_id")
    if parent is not None and not isinstance(parent, str):
        raise malformed("origin.parent_id")
    return {"parent_id": parent, **at}


@dataclass(frozen=True)
class EnvSlot:
    """An applied env var as far as staging cares: where it lives and its key (not its value)."""

    id: str
    scope: str
    scope_id: str
    key: str


@dataclass
class Draft:
    """A service as it will be once the staged changes apply; ``key`` is its id or temp id."""

    key: str
    name: str
    config: ServiceConfig
    group_id: str | None
    applied: bool
    deleted: bool = False
    drain_s: float = 10.0
    public: bool = True

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "group_id": self.group_id, **self.config.to_dict()}


@dataclass(frozen=True)
class Step:
    """A validated change: its normalized payload, its targets, what the target looked like, and
    for a service change the service it leaves behind (``update`` for ``service.update``)."""

    kind: ChangeKind
    payload: dict[str, Any]
    target_id: str | None
    target_temp_id: str | None
    before: dict[str, Any] | None = None
    service: Draft | None = None
    update: ServiceUpdate | None = None

    @property
    def is_move_back(self) -> bool:
        """A move to the group the service is in: nothing to stage."""
        return self.kind == ChangeKind.SERVICE_MOVE and (self.before or {}).get("group_id") == self.payload["group_id"]


@dataclass
class Plan:
    project_id: str
    services: dict[str, Draft] = field(default_factory=dict)
    env_keys: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    env_vars: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """Applied, not staged-deleted env vars: id -> (scope, scope_id, key)."""
    groups: set[str] = field(default_factory=set)
    node_groups: dict[str, str | None] = field(default_factory=dict)
    """Where the canvas holds a staged service's node (temp id -> group): dragging the node into
    or out of a group after staging wins over the group the creation named."""

    @classmethod
    def of(
        cls,
        project_id: str,
        *,
        services: Iterable[Service] = (),
        env_vars: Iterable[EnvSlot] = (),
        groups: Iterable[str] = (),
        node_groups: Mapping[str, str | None] | None = None,
    ) -> Plan:
        """The applied state of a project, before any staged change."""
        plan = cls(project_id, groups=set(groups), node_groups=dict(node_groups or {}))
        for s in services:
            plan.services[s.id] = Draft(s.id, s.name, s.config, s.group_id, applied=True, drain_s=s.drain_s)
        for v in env_vars:
            plan.env_vars[v.id] = (v.scope, v.scope_id, v.key)
            plan.env_keys.setdefault((v.scope, v.scope_id), set()).add(v.key)
        return plan

    def replay(self, changes: Iterable[PendingChange], *, strict: bool) -> list[Step]:
        """Stage each change in order. Strict (apply): the first that no longer fits raises its
        error (``conflict``, ``invalid``, ``not_found``). Lenient (append): it is skipped, and
        apply will report it."""
        steps: list[Step] = []
        for change in changes:
            try:
                steps.append(self.stage(change.kind, change.payload, change.target_id, change.target_temp_id))
            except Error as exc:
                if strict:
                    raise
                log.warning("staged %s no longer applies: %s", change.kind, exc.message)
        return steps

    def live(self, target_id: str | None, target_temp_id: str | None) -> Draft:
        key = target_id if target_id is not None else target_temp_id
        draft = self.services.get(key) if key is not None else None
        if draft is None or draft.deleted or (target_id is not None and not draft.applied):
            raise not_found("Service")
        return draft

    def check_name(self, name: str, own_key: str | None = None) -> None:
        wanted = name_key(name)
        for draft in self.services.values():
            if not draft.deleted and draft.key != own_key and name_key(draft.name) == wanted:
                raise Error(CONFLICT, conflict_message(name))

    def check_group(self, group_id: str | None) -> None:
        if group_id is not None and group_id not in self.groups:
            raise ValidationError({"group_id": ["must be a group node of this project"]})

    def stage(
        self, kind: ChangeKind, payload: dict[str, Any], target_id: str | None, target_temp_id: str | None
    ) -> Step:
        """Validate one change against this state and lay it over the state."""
        if not isinstance(payload, dict):
            raise malformed()
        if kind == ChangeKind.PROJECT_UPDATE:
            name = payload.get("name")
            if not isinstance(name, str):
                raise ValidationError({"name": ["must not be empty"]})
            ProjectUpdate(name=name).validate()
            return Step(kind, {"name": name.strip()}, self.project_id, None)
        if kind == ChangeKind.SERVICE_CREATE:
            return self._create(payload, target_temp_id)
        if kind in (ChangeKind.SERVICE_UPDATE, ChangeKind.SERVICE_DELETE, ChangeKind.SERVICE_MOVE):
            return self._change_service(kind, payload, target_id, target_temp_id)
        if kind == ChangeKind.ENV_VAR_CREATE:
            return self._env_create(payload)
        if kind in (ChangeKind.ENV_VAR_UPDATE, ChangeKind.ENV_VAR_DELETE):
            if target_id is None and target_temp_id is not None:
                return self._staged_env_change(kind, payload, target_temp_id)
            return self._env_change(kind, payload, target_id)
        raise ValidationError({"kind": ["is not a known change kind"]})

    def _create(self, payload: dict[str, Any], target_temp_id: str | None) -> Step:
        temp_id = target_temp_id or new_temp_id()
        if temp_id in self.services:
            raise Error(CONFLICT, f"The temporary id '{temp_id}' is already used.")
        name, config = parse_create(self.project_id, payload)
        group_id = optional_id(payload, "group_id")
        self.check_group(group_id)
        env = parse_env_vars(payload.get("env_vars"))
        x, y = as_float(payload.get("x"), "x"), as_float(payload.get("y"), "y")
        public = payload.get("public", True)
        if not isinstance(public, bool):
            raise malformed("public")
        self.check_name(name)
        in_group = group_id
        if temp_id in self.node_groups:
            in_group = self.node_groups[temp_id]
            self.check_group(in_group)
        draft = self.services[temp_id] = Draft(temp_id, name, config, in_group, applied=False, public=public)
        self.env_keys[(Scope.SERVICE.value, temp_id)] = set(env)
        normalized = {"name": name, **config.to_dict(), "group_id": group_id, "env_vars": env, "x": x, "y": y}
        if not public:
            normalized["public"] = False
        return Step(ChangeKind.SERVICE_CREATE, normalized, None, temp_id, service=replace(draft))

    def _change_service(
        self, kind: ChangeKind, payload: dict[str, Any], target_id: str | None, target_temp_id: str | None
    ) -> Step:
        if (target_id is None) == (target_temp_id is None):
            raise ValidationError({"target_id": ["exactly one of target_id and target_temp_id is required"]})
        draft = self.live(target_id, target_temp_id)
        before = draft.snapshot()
        if kind == ChangeKind.SERVICE_DELETE:
            draft.deleted = True
            return Step(kind, {}, target_id, target_temp_id, before, service=replace(draft))
        if kind == ChangeKind.SERVICE_MOVE:
            group_id = optional_id(payload, "group_id")
            self.check_group(group_id)
            draft.group_id = group_id
            moved: dict[str, Any] = {"group_id": group_id}
            origin = parse_origin(payload.get("origin"))
            if origin is not None:
                moved["origin"] = origin
            return Step(kind, moved, target_id, target_temp_id, before, service=replace(draft))
        upd = parse_update(payload)
        config = updated_config(upd, draft.config)
        if upd.name is not None:
            self.check_name(upd.name, draft.key)
        if not isinstance(upd.group_id, Unset):
            self.check_group(upd.group_id)
            draft.group_id = upd.group_id
        draft.config = config
        if upd.name is not None:
            draft.name = upd.name
        if upd.drain_s is not None:
            draft.drain_s = float(upd.drain_s)
        return Step(kind, upd.to_dict(), target_id, target_temp_id, before, service=replace(draft), update=upd)

    def _env_create(self, payload: dict[str, Any]) -> Step:
        try:
            scope = Scope(str(payload.get("scope")))
        except ValueError as exc:
            raise ValidationError({"scope": ["must be project, group or service"]}) from exc
        key, value = payload.get("key"), payload.get("value")
        errors = FieldErrors()
        if not isinstance(key, str):
            errors.add("key", "must not be empty")
        else:
            validate_env_key(key, errors)
        if not isinstance(value, str):
            errors.add("value", "must be a string")
        else:
            validate_env_value(value, errors)
        errors.raise_if_any()
        assert isinstance(key, str)
        assert isinstance(value, str)
        scope_id = optional_id(payload, "scope_id")
        temp_id: str | None = None
        if scope == Scope.PROJECT:
            scope_id = self.project_id
        elif scope == Scope.GROUP:
            if scope_id is None or scope_id not in self.groups:
                raise ValidationError({"scope_id": ["must be a group node of this project"]})
        else:
            if scope_id is None:
                raise not_found("Service")
            draft = self.live(None, scope_id)
            temp_id = None if draft.applied else draft.key
        keys = self.env_keys.setdefault((scope.value, scope_id), set())
        if key in keys:
            raise Error(CONFLICT, f"An env var named '{key}' already exists in this scope.")
        keys.add(key)
        normalized = {"scope": scope.value, "scope_id": scope_id, "key": key, "value": value}
        return Step(ChangeKind.ENV_VAR_CREATE, normalized, None, temp_id)

    def _env_change(self, kind: ChangeKind, payload: dict[str, Any], target_id: str | None) -> Step:
        found = self.env_vars.get(target_id) if target_id is not None else None
        if target_id is None or found is None:
            raise not_found("Env var")
        scope, scope_id, key = found
        before = {"scope": scope, "scope_id": scope_id, "key": key}
        if kind == ChangeKind.ENV_VAR_DELETE:
            del self.env_vars[target_id]
            self.env_keys.get((scope, scope_id), set()).discard(key)
            return Step(kind, {}, target_id, None, before)
        value = payload.get("value")
        if not isinstance(value, str):
            raise ValidationError({"value": ["must be a string"]})
        errors = FieldErrors()
        validate_env_value(value, errors)
        errors.raise_if_any()
        return Step(kind, {"value": value}, target_id, None, before)

    def _staged_env_change(self, kind: ChangeKind, payload: dict[str, Any], temp_id: str) -> Step:
        """An update or removal of a variable of a service that is itself only staged: it has
        no id yet, so the change names it by key (it came with the creation or a staged add)."""
        draft = self.live(None, temp_id)
        if draft.applied:
            raise not_found("Env var")
        key = payload.get("key")
        keys = self.env_keys.get((Scope.SERVICE.value, temp_id), set())
        if not isinstance(key, str) or key not in keys:
            raise not_found("Env var")
        before = {"scope": Scope.SERVICE.value, "scope_id": temp_id, "key": key}
        if kind == ChangeKind.ENV_VAR_DELETE:
            keys.discard(key)
            return Step(kind, {"key": key}, None, temp_id, before)
        value = payload.get("value")
        if not isinstance(value, str):
            raise ValidationError({"value": ["must be a string"]})
        errors = FieldErrors()
        validate_env_value(value, errors)
        errors.raise_if_any()
        return Step(kind, {"key": key, "value": value}, None, temp_id, before)


def deploy_order(
    created: Iterable[str],
    before: Mapping[str, object],
    after: Mapping[str, object],
    drifted: Iterable[str] = (),
) -> list[str]:
    """The services an apply deploys: each created one (in creation order) first, then, by id,
    every other service whose deploy-relevant state (config, resolved env) differs from before,
    or whose config differs from the deployment it runs (``drifted``: a deploy that failed; the
    diff shows it before Deploy)."""
    new = [sid for sid in created if sid in after]
    again = set(drifted)
    return new + sorted(sid for sid in after if sid not in new and (before.get(sid) != after[sid] or sid in again))
