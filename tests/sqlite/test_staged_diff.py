"""The pending-changes diff from the store: the applied state, the staged log and the applied env
values (decrypted) handed to the domain's diff, as an apply would replay them."""

from __future__ import annotations

from deploykit.envvar import EnvVarFilter, Scope
from deploykit.pending_change import ChangeKind
from deploykit.project import Project
from deploykit.staged_diff import DiffStatus, EnvDiff, EnvOp, FieldDiff
from deploykit_sqlite import Store
from tests.sqlite.support import deploy_services, image_service, stage


async def test_the_diff_shows_applied_values_before_and_staged_ones_after(store: Store, project: Project) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api", env_vars={"LOG": "info"}))
    [log] = await store.env_vars.list_env_vars(EnvVarFilter(project_id=project.id, scope=Scope.SERVICE))
    update = await stage(store, project.id, ChangeKind.SERVICE_UPDATE, {"replicas": 2}, target_id=api.id)
    env = await stage(store, project.id, ChangeKind.ENV_VAR_UPDATE, {"value": "debug"}, target_id=log.id)
    web = await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("web"))
    rename = await stage(store, project.id, ChangeKind.PROJECT_UPDATE, {"name": "Shop 2"}, target_id=project.id)

    service, created, renamed = await store.pending_changes.diff_pending_changes(project.id)
    assert (service.id, service.status, service.change_ids) == (api.id, DiffStatus.CHANGED, (update.id, env.id))
    assert service.fields == (FieldDiff("replicas", 1, 2),)
    assert service.env == (EnvDiff("LOG", EnvOp.CHANGED, "info", "debug", (env.id,)),)
    assert (created.id, created.name, created.status) == (web.target_temp_id, "web", DiffStatus.CREATED)
    assert (renamed.scope, renamed.fields, renamed.change_ids) == (
        Scope.PROJECT,
        (FieldDiff("name", "Shop", "Shop 2"),),
        (rename.id,),
    )
