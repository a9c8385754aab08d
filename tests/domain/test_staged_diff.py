"""What the staged log would do, as the pending bar shows it: computed by replaying it with the Plan,
without a database (the rules the UI used to replay itself)."""

from __future__ import annotations

from typing import Any

from deploykit.envvar import Scope
from deploykit.pending_change import ChangeKind, PendingChange
from deploykit.plan import EnvSlot, Plan
from deploykit.service import GitSource, ImageSource, Service, ServiceConfig
from deploykit.staged_diff import DiffStatus, EnvDiff, EnvOp, FieldDiff, ScopeDiff, staged_diff

P = "p1"
API = Service(
    id="s-api",
    project_id=P,
    name="api",
    slug="api",
    config=ServiceConfig(source=ImageSource("nginx:1.25"), port=80),
)


def change(id: str, kind: ChangeKind, payload: dict[str, Any], **targets: str) -> PendingChange:
    return PendingChange(id=id, project_id=P, kind=kind, payload=payload, **targets)  # type: ignore[arg-type]


def diff(*changes: PendingChange, services: tuple[Service, ...] = (API,)) -> list[ScopeDiff]:
    env = [EnvSlot("e-log", "service", "s-api", "LOG"), EnvSlot("e-old", "project", P, "OLD")]
    plan = Plan.of(P, services=services, env_vars=env, groups=["g1"])
    return staged_diff(plan, changes, project_name="shop", env_values={"e-log": "info", "e-old": "1"})


def test_successive_edits_of_a_field_show_the_first_before_and_the_last_after() -> None:
    [d] = diff(
        change("c1", ChangeKind.SERVICE_UPDATE, {"replicas": 2}, target_id="s-api"),
        change("c2", ChangeKind.SERVICE_UPDATE, {"replicas": 3, "drain_s": 4}, target_id="s-api"),
        change(
            "c3", ChangeKind.SERVICE_UPDATE, {"source": {"type": "image", "image": "nginx:1.27"}}, target_id="s-api"
        ),
    )
    assert (d.scope, d.id, d.name, d.status, d.change_ids) == (
        Scope.SERVICE,
        "s-api",
        "api",
        "changed",
        ("c1", "c2", "c3"),
    )
    assert d.fields == (
        FieldDiff("source.image", "nginx:1.25", "nginx:1.27"),
        FieldDiff("replicas", 1, 3),
        FieldDiff("drain_s", 10.0, 4.0),
    )
    assert d.after is not None
    assert (d.after["replicas"], d.after["source"], d.after["port"]) == (
        3,
        {"type": "image", "image": "nginx:1.27"},
        80,
    )


def test_a_created_service_lists_what_is_set_and_its_variables() -> None:
    payload = {"name": "web", "source": {"type": "image", "image": "busybox"}, "port": 8080, "env_vars": {"A": "1"}}
    [d] = diff(change("c1", ChangeKind.SERVICE_CREATE, payload, target_temp_id="tmp_web"))
    assert (d.id, d.name, d.status) == ("tmp_web", "web", DiffStatus.CREATED)
    assert [f.field for f in d.fields] == ["name", "source.type", "source.image", "port", "replicas", "restart_policy"]
    assert all(f.before is None for f in d.fields)
    assert d.env == (EnvDiff("A", EnvOp.ADDED, None, "1", ("c1",)),)


def test_a_service_created_then_deleted_drops_out_and_a_deleted_one_shows_no_fields() -> None:
    payload = {"name": "tmp", "source": {"type": "image", "image": "busybox"}}
    out = diff(
        change("c1", ChangeKind.SERVICE_CREATE, payload, target_temp_id="tmp_x"),
        change("c2", ChangeKind.SERVICE_DELETE, {}, target_temp_id="tmp_x"),
        change("c3", ChangeKind.SERVICE_DELETE, {}, target_id="s-api"),
    )
    assert [(d.id, d.status, d.fields, d.after) for d in out] == [("s-api", DiffStatus.DELETED, (), None)]


def test_env_vars_fold_into_added_changed_and_removed_per_scope() -> None:
    out = diff(
        change("c1", ChangeKind.ENV_VAR_UPDATE, {"value": "debug"}, target_id="e-log"),
        change("c2", ChangeKind.ENV_VAR_DELETE, {}, target_id="e-old"),
        change("c3", ChangeKind.ENV_VAR_CREATE, {"scope": "project", "key": "NEW", "value": "x"}),
        change("c4", ChangeKind.ENV_VAR_CREATE, {"scope": "group", "scope_id": "g1", "key": "REGION", "value": "eu"}),
        change("c5", ChangeKind.ENV_VAR_CREATE, {"scope": "project", "key": "GONE", "value": "y"}),
        change("c6", ChangeKind.ENV_VAR_CREATE, {"scope": "service", "scope_id": "s-api", "key": "LOG", "value": "x"}),
    )
    by_scope = {(d.scope, d.id): d for d in out}
    assert list(by_scope) == [(Scope.SERVICE, "s-api"), (Scope.PROJECT, P), (Scope.GROUP, "g1")]
    assert by_scope[(Scope.SERVICE, "s-api")].env == (EnvDiff("LOG", EnvOp.CHANGED, "info", "debug", ("c1",)),)
    assert by_scope[(Scope.SERVICE, "s-api")].change_ids == ("c1", "c6")  # the second LOG no longer applies
    assert by_scope[(Scope.PROJECT, P)].env == (
        EnvDiff("OLD", EnvOp.REMOVED, "1", None, ("c2",)),
        EnvDiff("NEW", EnvOp.ADDED, None, "x", ("c3",)),
        EnvDiff("GONE", EnvOp.ADDED, None, "y", ("c5",)),
    )
    assert by_scope[(Scope.GROUP, "g1")].env == (EnvDiff("REGION", EnvOp.ADDED, None, "eu", ("c4",)),)


def test_a_rename_a_move_and_a_removed_health_check_show_before_and_after() -> None:
    checked = Service(
        id="s-api",
        project_id=P,
        name="api",
        slug="api",
        config=ServiceConfig.from_dict({"source": {"type": "image", "image": "nginx"}, "health_check": {"path": "/h"}}),
    )
    out = diff(
        change("c1", ChangeKind.PROJECT_UPDATE, {"name": "Shop 2"}, target_id=P),
        change("c2", ChangeKind.SERVICE_MOVE, {"group_id": "g1"}, target_id="s-api"),
        change("c3", ChangeKind.SERVICE_UPDATE, {"name": "backend", "health_check": None}, target_id="s-api"),
        services=(checked,),
    )
    project, service = out
    assert (project.scope, project.name, project.fields) == (
        Scope.PROJECT,
        "shop",
        (FieldDiff("name", "shop", "Shop 2"),),
    )
    assert service.name == "backend"
    fields = {f.field: (f.before, f.after) for f in service.fields}
    assert fields["name"] == ("api", "backend")
    assert fields["group_id"] == (None, "g1")
    assert fields["health_check.path"] == ("/h", None)
    assert "health_check" not in fields or fields["health_check"][0] is None


def test_repository_credentials_never_show() -> None:
    git = Service(
        id="s-api",
        project_id=P,
        name="api",
        slug="api",
        config=ServiceConfig(source=GitSource("https://bob:s3cret@git.example.com/r.git")),
    )
    [d] = diff(change("c1", ChangeKind.SERVICE_UPDATE, {"replicas": 2}, target_id="s-api"), services=(git,))
    assert d.after is not None
    assert "s3cret" not in repr(d.after)
    assert "s3cret" not in repr(d.fields)
