"""Editing a scope's variables as a whole through the store: each touched key ends with at most
one staged change, a staged service takes variables before it exists, a dry run stages nothing,
and the diff previews references resolved (or says why not)."""

from __future__ import annotations

import pytest

from deploykit.bus import EventType
from deploykit.env_edit import EnvEdit, KeyEdit
from deploykit.envvar import EnvVarFilter, Scope
from deploykit.errors import NOT_FOUND, Error
from deploykit.pending_change import ChangeKind
from deploykit.project import Project
from deploykit.staged_diff import EnvDiff, EnvOp
from deploykit_sqlite import Store
from tests.sqlite.support import RecordingBus, deploy_services, image_service, stage


def project_edit(project: Project, **kw: object) -> EnvEdit:
    return EnvEdit(project_id=project.id, scope=Scope.PROJECT, scope_id=project.id, **kw)  # type: ignore[arg-type]


async def env_of(store: Store, project: Project, scope: Scope, scope_id: str) -> dict[str, str]:
    found = await store.env_vars.list_env_vars(EnvVarFilter(project_id=project.id, scope=scope, scope_id=scope_id))
    return {v.key: v.value for v in found}


async def test_changing_an_existing_key_stages_one_update(store: Store, project: Project, bus: RecordingBus) -> None:
    await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "info"}))
    await store.pending_changes.apply_pending_changes(project.id, None)

    first = await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "debug"}))
    bus.clear()
    second = await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "trace"}))

    assert first.edits == [KeyEdit("LOG", EnvOp.CHANGED, "info", "debug")]
    assert second.edits == [KeyEdit("LOG", EnvOp.CHANGED, "debug", "trace")]
    assert second.discarded == [first.staged[0].id]
    assert bus.types() == [EventType.PENDING_CHANGES_REMOVED, EventType.PENDING_CHANGE_ADDED]
    [change] = await store.pending_changes.list_pending_changes(project.id)
    assert (change.kind, change.payload) == (ChangeKind.ENV_VAR_UPDATE, {"value": "trace"})
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert await env_of(store, project, Scope.PROJECT, project.id) == {"LOG": "trace"}


async def test_remove_then_add_shows_the_key_once_as_changed(store: Store, project: Project) -> None:
    await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "info"}))
    await store.pending_changes.apply_pending_changes(project.id, None)

    await store.pending_changes.stage_env_edit(project_edit(project, unset=("LOG",)))
    result = await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "debug"}))

    assert result.diff is not None
    assert [(e.key, e.op, e.before, e.after) for e in result.diff.env] == [("LOG", EnvOp.CHANGED, "info", "debug")]
    assert len(await store.pending_changes.list_pending_changes(project.id)) == 1


async def test_setting_the_applied_value_again_leaves_nothing_staged(store: Store, project: Project) -> None:
    await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "info"}))
    await store.pending_changes.apply_pending_changes(project.id, None)
    await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "debug"}))

    result = await store.pending_changes.stage_env_edit(project_edit(project, values={"LOG": "info"}))

    assert (result.staged, len(result.discarded)) == ([], 1)
    assert await store.pending_changes.list_pending_changes(project.id) == []


async def test_replace_unsets_what_the_text_no_longer_names(store: Store, project: Project) -> None:
    await store.pending_changes.stage_env_edit(project_edit(project, values={"A": "1", "B": "2"}))
    await store.pending_changes.apply_pending_changes(project.id, None)

    result = await store.pending_changes.stage_env_edit(
        project_edit(project, values={"A": "1", "C": "3"}, replace=True)
    )

    assert sorted((e.key, e.op) for e in result.edits) == [("B", EnvOp.REMOVED), ("C", EnvOp.ADDED)]
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert await env_of(store, project, Scope.PROJECT, project.id) == {"A": "1", "C": "3"}


async def test_a_dry_run_stages_nothing_and_publishes_nothing(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    bus.clear()
    result = await store.pending_changes.stage_env_edit(project_edit(project, values={"A": "1"}), dry_run=True)

    assert result.edits == [KeyEdit("A", EnvOp.ADDED, None, "1")]
    assert result.diff is not None
    assert result.diff.env[0].key == "A"
    assert await store.pending_changes.list_pending_changes(project.id) == []
    assert bus.events == []


async def test_a_staged_service_gets_variables_before_its_first_deploy(store: Store, project: Project) -> None:
    create = await stage(
        store, project.id, ChangeKind.SERVICE_CREATE, image_service("db", env_vars={"PASSWORD": "one", "USER": "app"})
    )
    temp = create.target_temp_id
    assert temp is not None
    edit = EnvEdit(
        project_id=project.id,
        scope=Scope.SERVICE,
        scope_id=temp,
        values={"PASSWORD": "two", "EXTRA": "x"},
        unset=("USER",),
    )

    result = await store.pending_changes.stage_env_edit(edit)

    assert sorted((e.key, e.op) for e in result.edits) == [
        ("EXTRA", EnvOp.ADDED),
        ("PASSWORD", EnvOp.CHANGED),
        ("USER", EnvOp.REMOVED),
    ]
    assert result.diff is not None
    assert sorted((e.key, e.op, e.after) for e in result.diff.env) == [
        ("EXTRA", EnvOp.ADDED, "x"),
        ("PASSWORD", EnvOp.ADDED, "two"),
    ]
    applied = await store.pending_changes.apply_pending_changes(project.id, None)
    db_id = applied.temp_id_to_service_id[temp]
    assert await env_of(store, project, Scope.SERVICE, db_id) == {"EXTRA": "x", "PASSWORD": "two"}


async def test_discarding_a_staged_service_takes_its_variable_edits(store: Store, project: Project) -> None:
    create = await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("db", env_vars={"A": "1"}))
    assert create.target_temp_id is not None
    edit = EnvEdit(project_id=project.id, scope=Scope.SERVICE, scope_id=create.target_temp_id, unset=("A",))
    await store.pending_changes.stage_env_edit(edit)

    removed = await store.pending_changes.discard_pending_changes(project.id, create.id)

    assert len(removed) == 2
    assert await store.pending_changes.list_pending_changes(project.id) == []


async def test_an_unknown_service_scope_is_not_found(store: Store, project: Project) -> None:
    edit = EnvEdit(project_id=project.id, scope=Scope.SERVICE, scope_id="tmp_nope", values={"A": "1"})
    with pytest.raises(Error) as info:
        await store.pending_changes.stage_env_edit(edit)
    assert (info.value.code, info.value.message) == (NOT_FOUND, "Service not found.")


async def test_the_diff_previews_references_and_names_those_that_do_not_resolve(store: Store, project: Project) -> None:
    await deploy_services(
        store,
        project.id,
        image_service("db", port=5432, env_vars={"DATABASE_URL": "pg://${{db.HOST}}:${{db.PORT}}/app"}),
    )
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    edit = EnvEdit(
        project_id=project.id,
        scope=Scope.SERVICE,
        scope_id=api.id,
        values={"DB": "${{db.DATABASE_URL}}", "GHOST": "${{nosuch.HOST}}", "NOPE": "${{db.MISSING}}"},
    )

    result = await store.pending_changes.stage_env_edit(edit, dry_run=True)

    assert result.diff is not None
    by_key = {e.key: e for e in result.diff.env}
    assert (by_key["DB"].resolved, by_key["DB"].problems) == ("pg://db:5432/app", ())
    assert by_key["GHOST"].problems == ("${{nosuch.HOST}}: no service is named 'nosuch'",)
    assert by_key["NOPE"].problems == ("${{db.MISSING}}: 'db' has no variable MISSING",)
    assert by_key["GHOST"] == EnvDiff(
        "GHOST",
        EnvOp.ADDED,
        None,
        "${{nosuch.HOST}}",
        by_key["GHOST"].change_ids,
        "${{nosuch.HOST}}",
        by_key["GHOST"].problems,
    )


async def test_a_reference_to_another_services_variable_is_deployed_resolved(store: Store, project: Project) -> None:
    await deploy_services(
        store,
        project.id,
        image_service("db", port=5432, env_vars={"DATABASE_URL": "pg://${{db.HOST}}:${{db.PORT}}/app"}),
    )
    _, result = await deploy_services(store, project.id, image_service("api", env_vars={"DB": "${{db.DATABASE_URL}}"}))
    deployment = await store.deployments.get_deployment(result.created_deployments[0])
    assert deployment.env_vars["DB"] == "pg://db:5432/app"


async def test_a_service_that_is_not_public_gets_no_generated_domain(store: Store, project: Project) -> None:
    [db, web], _ = await deploy_services(store, project.id, image_service("db", public=False), image_service("web"))
    await stage(store, project.id, ChangeKind.SERVICE_UPDATE, {"replicas": 2}, target_id=db.id)
    await store.pending_changes.apply_pending_changes(project.id, None)

    assert ((await store.services.get_service(db.id)).public, (await store.services.get_service(web.id)).public) == (
        False,
        True,
    )
    assert await store.domains.list_domains(db.id) == []
    assert [d.is_generated for d in await store.domains.list_domains(web.id)] == [True]
