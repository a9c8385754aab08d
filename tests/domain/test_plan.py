"""Staging's rules without a database: replaying, validating and diffing the staged log."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.errors import Error, ValidationError
from deploykit.pending_change import ChangeKind, PendingChange, PendingChangeCreate
from deploykit.plan import EnvSlot, Plan, deploy_order, parse_origin
from deploykit.service import ImageSource, Service, ServiceConfig
from deploykit.staging import (
    ServiceStage,
    ServiceTarget,
    applied_node_data,
    superseded_moves,
    superseding_payload,
    with_dependents,
)

P = "p1"
CONFIG = ServiceConfig(source=ImageSource("nginx:1.27"), port=80)


def applied(id: str, name: str, group_id: str | None = None) -> Service:
    return Service(id=id, project_id=P, name=name, slug=name.lower(), config=CONFIG, group_id=group_id)


def create(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "source": {"type": "image", "image": "nginx:1.27"}, "port": 80, **extra}


def change(kind: ChangeKind, payload: dict[str, Any], *, id: str = "c", **targets: str) -> PendingChange:
    return PendingChange(id=id, project_id=P, kind=kind, payload=payload, **targets)  # type: ignore[arg-type]


def plan_with(*services: Service, env: tuple[EnvSlot, ...] = (), groups: tuple[str, ...] = ()) -> Plan:
    return Plan.of(P, services=services, env_vars=env, groups=groups)


def error_of(plan: Plan, kind: ChangeKind, payload: dict[str, Any], **targets: str | None) -> tuple[str, str]:
    with pytest.raises(Error) as caught:
        plan.stage(kind, payload, targets.get("target_id"), targets.get("target_temp_id"))
    return caught.value.code, caught.value.message


@pytest.mark.parametrize(
    ("kind", "payload", "targets", "expected"),
    [
        (
            ChangeKind.SERVICE_CREATE,
            create("API"),
            {},
            ("conflict", "A service named 'API' already exists in this project."),
        ),
        (ChangeKind.SERVICE_UPDATE, {"replicas": 2}, {"target_id": "gone"}, ("not_found", "Service not found.")),
        (
            ChangeKind.SERVICE_UPDATE,
            {"name": "Web"},
            {"target_id": "s-api"},
            ("conflict", "A service named 'Web' already exists in this project."),
        ),
        (
            ChangeKind.SERVICE_MOVE,
            {"group_id": "nope"},
            {"target_id": "s-api"},
            ("invalid", "group_id: must be a group node of this project"),
        ),
        (
            ChangeKind.ENV_VAR_CREATE,
            {"scope": "project", "key": "A", "value": "2"},
            {},
            ("conflict", "An env var named 'A' already exists in this scope."),
        ),
        (ChangeKind.ENV_VAR_DELETE, {}, {"target_id": "e-unknown"}, ("not_found", "Env var not found.")),
        (
            ChangeKind.SERVICE_DELETE,
            {},
            {},
            ("invalid", "target_id: exactly one of target_id and target_temp_id is required"),
        ),
    ],
)
def test_a_change_that_does_not_fit_the_state_is_refused_with_its_reason(
    kind: ChangeKind, payload: dict[str, Any], targets: dict[str, str], expected: tuple[str, str]
) -> None:
    plan = plan_with(applied("s-api", "api"), applied("s-web", "web"), env=(EnvSlot("e-a", "project", P, "A"),))
    assert error_of(plan, kind, payload, **targets) == expected


def test_a_name_freed_by_a_staged_deletion_or_rename_can_be_taken_again() -> None:
    plan = plan_with(applied("s-api", "api"), applied("s-web", "web"))
    plan.stage(ChangeKind.SERVICE_DELETE, {}, "s-api", None)
    plan.stage(ChangeKind.SERVICE_UPDATE, {"name": "site"}, "s-web", None)
    step = plan.stage(ChangeKind.SERVICE_CREATE, create("API"), None, "tmp_1")
    assert step.service is not None
    assert (step.service.name, step.service.applied) == ("API", False)
    assert plan.stage(ChangeKind.SERVICE_CREATE, create("web"), None, "tmp_2").target_temp_id == "tmp_2"


def test_later_changes_address_a_staged_service_by_its_temp_id_and_see_its_state() -> None:
    plan = plan_with(groups=("g1",))
    plan.stage(ChangeKind.SERVICE_CREATE, create("api", env_vars={"A": "1"}), None, "tmp_api")
    update = plan.stage(ChangeKind.SERVICE_UPDATE, {"replicas": 3, "group_id": "g1"}, None, "tmp_api")
    assert update.before is not None
    assert (update.before["replicas"], update.before["group_id"]) == (1, None)
    assert update.service is not None
    assert (update.service.config.replicas, update.service.group_id) == (3, "g1")
    env = plan.stage(
        ChangeKind.ENV_VAR_CREATE, {"scope": "service", "scope_id": "tmp_api", "key": "B", "value": "2"}, None, None
    )
    assert (env.target_temp_id, env.payload["scope_id"]) == ("tmp_api", "tmp_api")
    code, message = error_of(
        plan, ChangeKind.ENV_VAR_CREATE, {"scope": "service", "scope_id": "tmp_api", "key": "A", "value": "x"}
    )
    assert (code, message) == ("conflict", "An env var named 'A' already exists in this scope.")
    # A staged service cannot be addressed as if it were applied.
    assert error_of(plan, ChangeKind.SERVICE_DELETE, {}, target_id="tmp_api") == ("not_found", "Service not found.")


def test_a_create_is_normalized_and_a_node_dragged_elsewhere_decides_the_group() -> None:
    plan = Plan.of(P, groups=("g1", "g2"), node_groups={"tmp_api": "g2"})
    step = plan.stage(ChangeKind.SERVICE_CREATE, create("api", group_id="g1", x=3), None, "tmp_api")
    assert step.payload == {**create("api"), **CONFIG.to_dict(), "group_id": "g1", "env_vars": {}, "x": 3.0, "y": 0.0}
    assert step.service is not None
    assert step.service.group_id == "g2"


def test_replay_skips_what_no_longer_fits_unless_strict() -> None:
    log = [
        change(ChangeKind.SERVICE_UPDATE, {"replicas": 2}, id="c1", target_id="s-gone"),
        change(ChangeKind.SERVICE_CREATE, create("db"), id="c2", target_temp_id="tmp_db"),
    ]
    lenient = plan_with().replay(log, strict=False)
    assert [s.kind for s in lenient] == [ChangeKind.SERVICE_CREATE]
    with pytest.raises(Error) as caught:
        plan_with().replay(log, strict=True)
    assert caught.value.code == "not_found"


def test_a_move_back_to_where_the_service_is_stages_nothing() -> None:
    plan = plan_with(applied("s-api", "api", group_id="g1"), groups=("g1", "g2"))
    assert plan.stage(ChangeKind.SERVICE_MOVE, {"group_id": "g1"}, "s-api", None).is_move_back
    assert not plan.stage(ChangeKind.SERVICE_MOVE, {"group_id": "g2"}, "s-api", None).is_move_back


def test_deploy_order_puts_new_services_first_then_changed_ones_by_id() -> None:
    before = {"b": ("cfg", {"A": "1"}), "a": ("cfg", {}), "c": ("cfg", {})}
    after = {"b": ("cfg", {"A": "2"}), "a": ("cfg2", {}), "c": ("cfg", {}), "new2": ("x", {}), "new1": ("x", {})}
    assert deploy_order(["new2", "deleted", "new1"], before, after) == ["new2", "new1", "a", "b"]


def test_discarding_a_staged_creation_takes_its_later_changes_along() -> None:
    log = [
        change(ChangeKind.SERVICE_CREATE, create("api"), id="c1", target_temp_id="tmp"),
        change(ChangeKind.SERVICE_UPDATE, {"replicas": 2}, id="c2", target_temp_id="tmp"),
        change(ChangeKind.SERVICE_UPDATE, {"replicas": 2}, id="c3", target_id="s-web"),
    ]
    assert [c.id for c in with_dependents(log, "c1")] == ["c1", "c2"]
    assert [c.id for c in with_dependents(log, "c2")] == ["c2"]
    with pytest.raises(Error) as caught:
        with_dependents(log, "zzz")
    assert caught.value.message == "Pending change not found."


def test_a_new_move_replaces_the_earlier_moves_of_the_same_service() -> None:
    log = [
        change(ChangeKind.SERVICE_MOVE, {"group_id": "g1"}, id="m1", target_id="s-api"),
        change(ChangeKind.SERVICE_MOVE, {"group_id": "g1"}, id="m2", target_id="s-web"),
    ]
    move = PendingChangeCreate(
        project_id=P, kind=ChangeKind.SERVICE_MOVE, payload={"group_id": None}, target_id="s-api"
    )
    assert [c.id for c in superseded_moves(log, move)] == ["m1"]


def test_a_move_that_replaces_another_keeps_the_first_origin() -> None:
    first = {"group_id": "g1", "origin": {"parent_id": None, "x": 40.0, "y": 40.0}}
    log = [
        change(ChangeKind.SERVICE_MOVE, first, id="m1", target_id="s-api"),
        change(
            ChangeKind.SERVICE_MOVE,
            {"group_id": "g2", "origin": {"parent_id": "g1", "x": 5, "y": 5}},
            id="m2",
            target_id="s-api",
        ),
    ]
    move = PendingChangeCreate(
        project_id=P,
        kind=ChangeKind.SERVICE_MOVE,
        payload={"group_id": "g3", "origin": {"parent_id": "g2", "x": 9, "y": 9}},
        target_id="s-api",
    )
    assert superseding_payload(superseded_moves(log, move), move) == {"group_id": "g3", "origin": first["origin"]}
    assert superseding_payload([], move) == move.payload


@pytest.mark.parametrize(
    ("origin", "error"),
    [
        ("left", "origin: is malformed"),
        ({"x": 1, "y": "2"}, "origin.y: must be a finite number"),
        ({"x": float("inf"), "y": 2}, "origin.x: must be a finite number"),
        ({"x": True, "y": 2}, "origin.x: must be a finite number"),
        ({"x": 1, "y": 2, "parent_id": 7}, "origin.parent_id: is malformed"),
    ],
)
def test_a_malformed_move_origin_is_refused_with_its_field(origin: object, error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_origin(origin)
    assert caught.value.message == error


def test_a_move_origin_is_normalized() -> None:
    assert parse_origin(None) is None
    assert parse_origin({"x": 1, "y": 2.5}) == {"parent_id": None, "x": 1.0, "y": 2.5}


def test_an_applied_node_keeps_what_users_set_and_drops_the_preview() -> None:
    staged = {"name": "api", "staged": True, "source": {"type": "image"}, "port": 80, "color": "red"}
    assert applied_node_data(staged, "api", "s1") == {
        "name": "api",
        "color": "red",
        "service_id": "s1",
        "staged": False,
    }


def test_a_service_stage_names_the_bad_env_var_and_builds_the_create_payload() -> None:
    stage = ServiceStage(project_id=P, name="api", config=CONFIG, env={"1BAD": "x"}, position=(1.0, 2.0))
    with pytest.raises(Error) as caught:
        stage.validate()
    assert list(caught.value.fields) == ["env_vars.1BAD.key"]  # type: ignore[attr-defined]
    create_change = ServiceStage(project_id=P, name="api", config=CONFIG, created_by="u1").change()
    assert create_change.kind == ChangeKind.SERVICE_CREATE
    assert create_change.payload == {
        "name": "api",
        **CONFIG.to_dict(),
        "group_id": None,
        "env_vars": {},
        "x": 0.0,
        "y": 0.0,
    }
    assert create_change.created_by == "u1"


def test_a_staged_creation_is_a_service_target_by_its_temp_id() -> None:
    staged = change(ChangeKind.SERVICE_CREATE, {**create("api"), "replicas": 2}, target_temp_id="tmp")
    target = ServiceTarget.staged(staged)
    assert (target.key, target.target_id, target.name, target.config.replicas) == ("tmp", None, "api", 2)
