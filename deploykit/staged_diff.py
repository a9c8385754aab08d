"""What a project's staged changes would do, as people read it before pressing Deploy.

One entry per project, service and group the changes touch, in the order they were first touched:
each field's value before and after (successive edits show the first before and the last after),
each env var added, changed or removed, whether the service is created or deleted, the service as
it will be, and the ids of the changes behind it (to discard them). A service created and deleted
before any deploy drops out. The ``Plan`` replays the log, so this says exactly what an apply would
do; the UI only renders it. Repository URLs are shown redacted, as everywhere a member looks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from deploykit.env_reference import References, ServiceAddress, find_references, overlay
from deploykit.envvar import Scope
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind, PendingChange
from deploykit.plan import Draft, Plan
from deploykit.repository import redact_source
from deploykit.service import ServiceConfig
from deploykit.slug import service_slug

SERVICE_KINDS = frozenset(
    {ChangeKind.SERVICE_CREATE, ChangeKind.SERVICE_UPDATE, ChangeKind.SERVICE_MOVE, ChangeKind.SERVICE_DELETE}
)


class DiffStatus(StrEnum):
    CREATED = "created"
    DELETED = "deleted"
    CHANGED = "changed"


class EnvOp(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


@dataclass(frozen=True)
class FieldDiff:
    """A field (dotted for nested ones: ``source.image``) and its JSON value before and after;
    ``None`` for a field that is not set."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class EnvDiff:
    key: str
    op: EnvOp
    before: str | None
    after: str | None
    change_ids: tuple[str, ...]
    resolved: str | None = None
    """``after`` with its references resolved, when it has any."""
    problems: tuple[str, ...] = ()
    """Why a reference in ``after`` would not resolve (it would be deployed literally)."""


@dataclass(frozen=True)
class ScopeDiff:
    """What the staged changes do to one project, service (by id, or temp id while only staged)
    or group. ``after`` is a service as it will be (name, group, config, drain); None otherwise."""

    scope: Scope
    id: str
    name: str
    status: DiffStatus
    fields: tuple[FieldDiff, ...]
    env: tuple[EnvDiff, ...]
    change_ids: tuple[str, ...]
    after: dict[str, Any] | None = None
    running: tuple[FieldDiff, ...] = ()
    """A service's fields whose value after this Deploy differs from the deployment it runs
    (before: the running value), staged or not: a config that failed to deploy shows here, and
    this Deploy deploys it. A service with such a difference is listed even with nothing staged.
    A staged field already in ``fields`` with the same values (it ran as it was) is not repeated."""


@dataclass
class _Env:
    existed: bool
    before: str | None
    after: str | None
    ids: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    scope: Scope
    id: str
    name: str
    created: bool = False
    deleted: bool = False
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    change_ids: list[str] = field(default_factory=list)
    env: dict[str, _Env] = field(default_factory=dict)


def service_state(draft: Draft) -> dict[str, Any]:
    """A service as the diff shows it: its snapshot, and the drain period of an applied one."""
    state = draft.snapshot()
    if draft.applied:
        state["drain_s"] = draft.drain_s
    return state


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{source: {type, image}}`` as ``source.type``, ``source.image``; lists stay whole."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def shown(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if state is None or "source" not in state:
        return None if state is None else dict(state)
    return {**state, "source": redact_source(state["source"])}


def field_diffs(before: Mapping[str, Any] | None, after: Mapping[str, Any], created: bool) -> list[FieldDiff]:
    """The fields that differ; a created entity lists only what is set, not every empty default."""
    b, a = flatten(shown(before) or {}), flatten(shown(after) or {})
    out: list[FieldDiff] = []
    for name, value in a.items():
        if created:
            if value not in (None, [], {}):
                out.append(FieldDiff(name, None, value))
        elif b.get(name) != value:
            out.append(FieldDiff(name, b.get(name), value))
    if not created:
        out += [FieldDiff(name, value, None) for name, value in b.items() if name not in a and value is not None]
    return out


def env_diffs(env: Mapping[str, _Env], refs: References) -> list[EnvDiff]:
    out: list[EnvDiff] = []
    for key, e in env.items():
        if not e.existed and e.after is None:
            continue  # added and removed again
        op = EnvOp.ADDED if not e.existed else EnvOp.REMOVED if e.after is None else EnvOp.CHANGED
        if op == EnvOp.CHANGED and e.before == e.after:
            continue
        resolved: str | None = None
        problems: tuple[str, ...] = ()
        if e.after is not None and find_references(e.after):
            resolution = refs.resolve(e.after)
            resolved, problems = resolution.value, resolution.problems
        out.append(EnvDiff(key, op, e.before if e.existed else None, e.after, tuple(e.ids), resolved, problems))
    return out


class _Differ:
    def __init__(self, plan: Plan, project_name: str, env_values: Mapping[str, str], hosts: Mapping[str, str]) -> None:
        self.plan = plan
        self.project_name = project_name
        self.env_values = env_values
        self.hosts = hosts
        self.entries: dict[tuple[Scope, str], _Entry] = {}
        self.future: dict[tuple[str, str], dict[str, str]] = {}
        """Every scope's variables as they will be, for resolving references in the preview."""
        for id, (scope, scope_id, key) in plan.env_vars.items():
            self.future.setdefault((scope, scope_id), {})[key] = env_values.get(id, "")

    def references(self) -> References:
        """What references will resolve against once the changes apply."""
        live = [d for d in self.plan.services.values() if not d.deleted]
        project = self.future.get((Scope.PROJECT.value, self.plan.project_id), {})
        return References(
            addresses={
                d.name: ServiceAddress(self.hosts.get(d.key) or service_slug(d.name), d.config.port) for d in live
            },
            envs={
                d.name: overlay(
                    project,
                    self.future.get((Scope.GROUP.value, d.group_id or ""), {}),
                    self.future.get((Scope.SERVICE.value, d.key), {}),
                )
                for d in live
            },
        )

    def entry(self, scope: Scope, id: str) -> _Entry:
        found = self.entries.get((scope, id))
        if found is None:
            draft = self.plan.services.get(id) if scope == Scope.SERVICE else None
            name = self.project_name if scope == Scope.PROJECT else draft.name if draft is not None else ""
            found = self.entries[(scope, id)] = _Entry(scope, id, name)
        return found

    def home(self, change: PendingChange) -> tuple[Scope, str]:
        """Where a change that no longer applies is listed: its service or env scope, else the project."""
        key = change.target_id if change.target_id is not None else change.target_temp_id
        p = change.payload if isinstance(change.payload, dict) else {}
        if change.kind in SERVICE_KINDS and key in self.plan.services:
            assert key is not None
            return Scope.SERVICE, key
        scope_id = p.get("scope_id")
        if change.kind == ChangeKind.ENV_VAR_CREATE and p.get("scope") in (Scope.SERVICE, Scope.GROUP):
            return Scope(p["scope"]), scope_id if isinstance(scope_id, str) else ""
        if change.kind in (ChangeKind.ENV_VAR_UPDATE, ChangeKind.ENV_VAR_DELETE) and key in self.plan.env_vars:
            scope, scope_id, _ = self.plan.env_vars[key or ""]
            return Scope(scope), scope_id
        return Scope.PROJECT, self.plan.project_id

    def add(self, change: PendingChange) -> None:
        plan = self.plan
        key = change.target_id if change.target_id is not None else change.target_temp_id
        pre = plan.services.get(key) if key is not None and change.kind in SERVICE_KINDS else None
        pre_state = service_state(pre) if pre is not None else None
        try:
            step = plan.stage(change.kind, change.payload, change.target_id, change.target_temp_id)
        except Error:
            # No longer applies (apply will say why): listed under its target so it can be discarded.
            self.entry(*self.home(change)).change_ids.append(change.id)
            return
        kind, p = step.kind, step.payload
        if kind == ChangeKind.PROJECT_UPDATE:
            e = self.entry(Scope.PROJECT, plan.project_id)
            e.before = e.before or {"name": self.project_name}
            e.after = {"name": p["name"]}
        elif kind in SERVICE_KINDS:
            assert step.service is not None
            e = self.entry(Scope.SERVICE, step.service.key)
            if kind == ChangeKind.SERVICE_CREATE:
                e.created = True
                self.future[(Scope.SERVICE.value, step.service.key)] = dict(p.get("env_vars", {}))
                for env_key, value in p.get("env_vars", {}).items():
                    e.env[env_key] = _Env(existed=False, before=None, after=value, ids=[change.id])
            elif not e.created and e.before is None:
                e.before = pre_state
            e.deleted = e.deleted or kind == ChangeKind.SERVICE_DELETE
            e.name = step.service.name
            e.after = service_state(step.service)
        else:
            where = step.before if kind != ChangeKind.ENV_VAR_CREATE else p
            assert where is not None
            e = self.entry(Scope(where["scope"]), where["scope_id"])
            env_key = where["key"]
            prior = e.env.get(env_key)
            if prior is None:
                if kind == ChangeKind.ENV_VAR_CREATE:
                    prior = _Env(existed=False, before=None, after=None)
                else:
                    old = self.env_values.get(step.target_id or "")
                    prior = _Env(existed=True, before=old, after=old)
                e.env[env_key] = prior
            prior.after = None if kind == ChangeKind.ENV_VAR_DELETE else p["value"]
            scope_vars = self.future.setdefault((where["scope"], where["scope_id"]), {})
            if prior.after is None:
                scope_vars.pop(env_key, None)
            else:
                scope_vars[env_key] = prior.after
            prior.ids.append(change.id)
        e.change_ids.append(change.id)

    def result(
        self, deployed: Mapping[str, ServiceConfig], running_env: Mapping[str, Iterable[FieldDiff]]
    ) -> list[ScopeDiff]:
        running: dict[str, tuple[FieldDiff, ...]] = {}
        for sid, config in deployed.items():
            draft = self.plan.services.get(sid)
            if draft is None or draft.deleted or not draft.applied:
                continue
            diffs = (*field_diffs(config.to_dict(), draft.config.to_dict(), False), *running_env.get(sid, ()))
            if diffs:
                running[sid] = diffs
                entry = self.entry(Scope.SERVICE, sid)
                entry.after = entry.after or service_state(draft)
        out: list[ScopeDiff] = []
        refs = self.references()
        for e in self.entries.values():
            if e.created and e.deleted:
                continue
            status = DiffStatus.DELETED if e.deleted else DiffStatus.CREATED if e.created else DiffStatus.CHANGED
            fields = [] if e.deleted or e.after is None else field_diffs(e.before, e.after, e.created)
            after = shown(e.after) if e.scope == Scope.SERVICE and not e.deleted else None
            # A staged field whose running value is its value before is said once, as staged.
            drift = [d for d in running.get(e.id, ()) if e.scope == Scope.SERVICE and d not in fields]
            out.append(
                ScopeDiff(
                    e.scope,
                    e.id,
                    e.name,
                    status,
                    tuple(fields),
                    tuple(env_diffs(e.env, refs)),
                    tuple(e.change_ids),
                    after,
                    tuple(drift),
                )
            )
        return out


def staged_diff(
    plan: Plan,
    changes: Iterable[PendingChange],
    *,
    project_name: str,
    env_values: Mapping[str, str],
    deployed: Mapping[str, ServiceConfig] | None = None,
    hosts: Mapping[str, str] | None = None,
    running_env: Mapping[str, Iterable[FieldDiff]] | None = None,
) -> list[ScopeDiff]:
    """Replay ``changes`` over ``plan`` (the applied state; it is consumed) and say what they do.
    ``env_values``: the applied env vars' values by id, for the before of an update or delete;
    ``deployed``: each service's running (or rolling out) config, for ``ScopeDiff.running``;
    ``hosts``: the applied services' network aliases by id, for previewing references;
    ``running_env``: each service's applied variables that differ from what runs
    (``drift.env_drift``), appended to its ``ScopeDiff.running``."""
    differ = _Differ(plan, project_name, env_values, hosts or {})
    for change in changes:
        differ.add(change)
    return differ.result(deployed or {}, running_env or {})
