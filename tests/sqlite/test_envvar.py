"""EnvVarService: listing, overlay resolution and references."""

from __future__ import annotations

import pytest

from deploykit.envvar import EnvVarFilter, Scope
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind
from deploykit.project import Project
from deploykit_sqlite import Store
from tests.sqlite.support import add_group, deploy_services, image_service, stage


async def test_resolution_overlays_project_group_service_and_resolves_references(
    store: Store, project: Project
) -> None:
    group = await add_group(store, project.id)
    [db, api], _ = await deploy_services(
        store,
        project.id,
        image_service("db", port=5432),
        image_service(
            "api", group_id=group.id, env_vars={"LEVEL": "service", "URL": "postgres://${{db.HOST}}:${{db.PORT}}"}
        ),
    )
    for scope, scope_id, key, value in [
        ("project", None, "LEVEL", "project"),
        ("project", None, "ONLY_PROJECT", "p"),
        ("group", group.id, "LEVEL", "group"),
        ("group", group.id, "ONLY_GROUP", "g"),
        ("project", None, "MISSING", "${{ghost.HOST}}"),
    ]:
        await stage(
            store,
            project.id,
            ChangeKind.ENV_VAR_CREATE,
            {"scope": scope, "scope_id": scope_id, "key": key, "value": value},
        )
    await store.pending_changes.apply_pending_changes(project.id, None)
    resolved = await store.env_vars.resolve_service_env(api.id)
    assert resolved.values == {
        "LEVEL": "service",
        "ONLY_PROJECT": "p",
        "ONLY_GROUP": "g",
        "URL": "postgres://db:5432",
        "MISSING": "${{ghost.HOST}}",
    }
    assert resolved.references == {"URL": frozenset({"db"}), "MISSING": frozenset({"ghost"})}
    assert (await store.env_vars.resolve_service_env(db.id)).values["LEVEL"] == "project"


async def test_list_env_vars_orders_by_scope_then_key_and_filters(store: Store, project: Project) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api", env_vars={"Z": "1", "A": "2"}))
    await stage(store, project.id, ChangeKind.ENV_VAR_CREATE, {"scope": "project", "key": "M", "value": "3"})
    await store.pending_changes.apply_pending_changes(project.id, None)
    listed = await store.env_vars.list_env_vars(EnvVarFilter(project_id=project.id))
    assert [(v.scope, v.key, v.value) for v in listed] == [
        (Scope.PROJECT, "M", "3"),
        (Scope.SERVICE, "A", "2"),
        (Scope.SERVICE, "Z", "1"),
    ]
    assert listed[0].scope_id == project.id
    only_service = await store.env_vars.list_env_vars(EnvVarFilter(scope=Scope.SERVICE, scope_id=api.id))
    assert [v.key for v in only_service] == ["A", "Z"]
    assert await store.env_vars.get_env_var(listed[0].id) == listed[0]


async def test_update_and_delete_through_apply(store: Store, project: Project) -> None:
    await stage(store, project.id, ChangeKind.ENV_VAR_CREATE, {"scope": "project", "key": "K", "value": "1"})
    await store.pending_changes.apply_pending_changes(project.id, None)
    [var] = await store.env_vars.list_env_vars(EnvVarFilter(project_id=project.id))
    change = await stage(store, project.id, ChangeKind.ENV_VAR_UPDATE, {"value": "2"}, target_id=var.id)
    assert change.before == {"scope": "project", "scope_id": project.id, "key": "K"}
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert (await store.env_vars.get_env_var(var.id)).value == "2"
    await stage(store, project.id, ChangeKind.ENV_VAR_DELETE, target_id=var.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    with pytest.raises(Error) as info:
        await store.env_vars.get_env_var(var.id)
    assert (info.value.code, info.value.message) == ("not_found", "Env var not found.")


async def test_resolve_for_unknown_service(store: Store) -> None:
    with pytest.raises(Error) as info:
        await store.env_vars.resolve_service_env("nope")
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")
