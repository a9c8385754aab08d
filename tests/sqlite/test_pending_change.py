"""PendingChangeService: staging with validation, discarding, and the all-or-nothing apply."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.bus import EventType
from deploykit.canvas import CanvasNode, EdgeType, NodeType
from deploykit.deployment import DeploymentFilter
from deploykit.envvar import EnvVarFilter, Scope
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind, PendingChange
from deploykit.project import Project
from deploykit.service import Service, ServiceConfig, ServiceFilter
from deploykit_sqlite import Store
from deploykit_sqlite.service import insert_service
from tests.sqlite.support import RecordingBus, add_group, deploy_services, image_service, stage

K = ChangeKind


async def env_id(store: Store, project_id: str, key: str) -> str:
    [var] = [v for v in await store.env_vars.list_env_vars(EnvVarFilter(project_id=project_id)) if v.key == key]
    return var.id


async def service_names(store: Store, project_id: str) -> list[str]:
    services, _ = await store.services.list_services(ServiceFilter(project_id=project_id))
    return [s.name for s in services]


async def snapshot(store: Store, project_id: str) -> dict[str, Any]:
    """Everything apply could touch, to prove that a failed apply touched nothing."""
    services, _ = await store.services.list_services(ServiceFilter(project_id=project_id))
    deployments, _ = await store.deployments.list_deployments(DeploymentFilter(project_id=project_id, limit=1000))
    return {
        "project": await store.projects.get_project(project_id),
        "services": services,
        "deployments": [(d.id, d.status) for d in deployments],
        "env": await store.env_vars.list_env_vars(EnvVarFilter(project_id=project_id)),
        "nodes": await store.canvas.list_nodes(project_id),
        "edges": await store.canvas.list_edges(project_id),
        "domains": await store.domains.list_all_domains(),
        "log": await store.pending_changes.list_pending_changes(project_id),
    }


# --- appending ---------------------------------------------------------------------------------


async def test_service_create_gets_a_temp_id_a_staged_node_and_a_normalized_payload(
    store: Store, project: Project
) -> None:
    change = await stage(store, project.id, K.SERVICE_CREATE, image_service("api", x=10, y=20))
    assert change.target_temp_id is not None
    assert change.target_temp_id.startswith("tmp_")
    assert change.payload["name"] == "api"
    assert change.payload["replicas"] == 1
    assert change.payload["env_vars"] == {}
    node = await store.canvas.get_node(project.id, change.target_temp_id)
    assert (node.type, node.position_x, node.position_y, node.data) == (
        NodeType.SERVICE,
        10.0,
        20.0,
        {"name": "api", "staged": True, "source": change.payload["source"], "port": change.payload["port"]},
    )
    assert await store.pending_changes.list_pending_changes(project.id) == [change]


@pytest.mark.parametrize(
    ("setup", "kind", "payload", "target", "code", "message"),
    [
        ([], K.SERVICE_CREATE, {"name": "api"}, None, "invalid", "source.type: must be 'image' or 'git'"),
        (
            [],
            K.SERVICE_CREATE,
            image_service("1api"),
            None,
            "invalid",
            "name: must start with a letter and use only letters, digits, '-' or '_' (at most 63)",
        ),
        ([], K.SERVICE_CREATE, image_service("api", port=70000), None, "invalid", "port: must be between 1 and 65535"),
        ([], K.SERVICE_CREATE, image_service("api", replicas="many"), None, "invalid", "payload: is malformed"),
        (
            [],
            K.SERVICE_CREATE,
            image_service("api", env_vars={"1BAD": "x"}),
            None,
            "invalid",
            "env_vars.1BAD: must start with a letter or '_' and use only letters, digits and '_'",
        ),
        (
            [],
            K.SERVICE_CREATE,
            image_service("API"),
            None,
            "conflict",
            "A service named 'API' already exists in this project.",
        ),
        (
            [(K.SERVICE_CREATE, image_service("web"), None)],
            K.SERVICE_CREATE,
            image_service("WEB"),
            None,
            "conflict",
            "A service named 'WEB' already exists in this project.",
        ),
        (
            [(K.SERVICE_UPDATE, {"name": "backend"}, "api")],
            K.SERVICE_CREATE,
            image_service("Backend"),
            None,
            "conflict",
            "A service named 'Backend' already exists in this project.",
        ),
        (
            [(K.SERVICE_CREATE, image_service("web"), None)],
            K.SERVICE_UPDATE,
            {"name": "Web"},
            "api",
            "conflict",
            "A service named 'Web' already exists in this project.",
        ),
        ([], K.SERVICE_UPDATE, {"port": 0}, "api", "invalid", "port: must be between 1 and 65535"),
        (
            [],
            K.SERVICE_UPDATE,
            {"health_check": {"type": "http", "path": "/"}, "port": None},
            "api",
            "invalid",
            "health_check: needs a port to check",
        ),
        ([], K.SERVICE_UPDATE, {"replicas": 2}, "missing", "not_found", "Service not found."),
        ([(K.SERVICE_DELETE, {}, "api")], K.SERVICE_UPDATE, {"replicas": 2}, "api", "not_found", "Service not found."),
        ([], K.SERVICE_MOVE, {"group_id": "nope"}, "api", "invalid", "group_id: must be a group node of this project"),
        ([], K.PROJECT_UPDATE, {"name": ""}, None, "invalid", "name: must not be empty"),
        (
            [],
            K.ENV_VAR_CREATE,
            {"scope": "project", "key": "A B", "value": "x"},
            None,
            "invalid",
            "key: must start with a letter or '_' and use only letters, digits and '_'",
        ),
        (
            [],
            K.ENV_VAR_CREATE,
            {"scope": "planet", "key": "A", "value": "x"},
            None,
            "invalid",
            "scope: must be project, group or service",
        ),
        (
            [],
            K.ENV_VAR_CREATE,
            {"scope": "project", "key": "SHARED", "value": "x"},
            None,
            "conflict",
            "An env var named 'SHARED' already exists in this scope.",
        ),
        (
            [(K.ENV_VAR_CREATE, {"scope": "project", "key": "NEW", "value": "1"}, None)],
            K.ENV_VAR_CREATE,
            {"scope": "project", "key": "NEW", "value": "2"},
            None,
            "conflict",
            "An env var named 'NEW' already exists in this scope.",
        ),
        (
            [],
            K.ENV_VAR_CREATE,
            {"scope": "service", "scope_id": "tmp_nope", "key": "A", "value": "x"},
            None,
            "not_found",
            "Service not found.",
        ),
        ([], K.ENV_VAR_UPDATE, {"value": "x"}, "env:nope", "not_found", "Env var not found."),
        ([], K.ENV_VAR_DELETE, {}, "env:nope", "not_found", "Env var not found."),
        (
            [(K.ENV_VAR_DELETE, {}, "env:SHARED")],
            K.ENV_VAR_UPDATE,
            {"value": "x"},
            "env:SHARED",
            "not_found",
            "Env var not found.",
        ),
    ],
)
async def test_append_rejects(
    store: Store,
    project: Project,
    setup: list[tuple[ChangeKind, dict[str, Any], str | None]],
    kind: ChangeKind,
    payload: dict[str, Any],
    target: str | None,
    code: str,
    message: str,
) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "SHARED", "value": "1"})
    await store.pending_changes.apply_pending_changes(project.id, None)
    shared = await env_id(store, project.id, "SHARED")

    def resolve(name: str | None) -> str | None:
        return {"api": api.id, "missing": "nope", "env:SHARED": shared, "env:nope": "nope"}.get(name or "")

    for setup_kind, setup_payload, setup_target in setup:
        await stage(store, project.id, setup_kind, setup_payload, target_id=resolve(setup_target))
    before = await store.pending_changes.list_pending_changes(project.id)
    with pytest.raises(Error) as info:
        await stage(store, project.id, kind, payload, target_id=resolve(target))
    assert (info.value.code, info.value.message) == (code, message)
    assert await store.pending_changes.list_pending_changes(project.id) == before


async def test_append_to_unknown_project_is_not_found(store: Store) -> None:
    with pytest.raises(Error) as info:
        await stage(store, "nope", K.SERVICE_CREATE, image_service("api"))
    assert (info.value.code, info.value.message) == ("not_found", "Project not found.")


async def test_a_deleted_name_can_be_reused_and_a_case_change_is_not_a_collision(
    store: Store, project: Project
) -> None:
    [api, web], _ = await deploy_services(store, project.id, image_service("api"), image_service("web"))
    await stage(store, project.id, K.SERVICE_DELETE, target_id=api.id)
    await stage(store, project.id, K.SERVICE_CREATE, image_service("API"))
    await stage(store, project.id, K.SERVICE_UPDATE, {"name": "Web"}, target_id=web.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert await service_names(store, project.id) == ["API", "Web"]


async def test_moves_coalesce_and_a_net_zero_move_stages_nothing(store: Store, project: Project) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    await add_group(store, project.id, "g1")
    await add_group(store, project.id, "g2")
    await stage(store, project.id, K.SERVICE_MOVE, {"group_id": "g1"}, target_id=api.id)
    second = await stage(store, project.id, K.SERVICE_MOVE, {"group_id": "g2"}, target_id=api.id)
    assert [c.id for c in await store.pending_changes.list_pending_changes(project.id)] == [second.id]
    back = await stage(store, project.id, K.SERVICE_MOVE, {"group_id": None}, target_id=api.id)
    assert back.id == ""
    assert await store.pending_changes.list_pending_changes(project.id) == []


# --- discarding ----------------------------------------------------------------------------------


async def test_discarding_a_create_takes_its_dependents_and_node(store: Store, project: Project) -> None:
    create = await stage(store, project.id, K.SERVICE_CREATE, image_service("api"))
    temp = create.target_temp_id
    env = await stage(
        store, project.id, K.ENV_VAR_CREATE, {"scope": "service", "scope_id": temp, "key": "A", "value": "1"}
    )
    upd = await stage(store, project.id, K.SERVICE_UPDATE, {"replicas": 2}, target_temp_id=temp)
    other = await stage(store, project.id, K.PROJECT_UPDATE, {"name": "Renamed"})
    assert env.target_temp_id == temp
    removed = await store.pending_changes.discard_pending_changes(project.id, create.id)
    assert removed == [create.id, env.id, upd.id]
    assert [c.id for c in await store.pending_changes.list_pending_changes(project.id)] == [other.id]
    assert await store.canvas.list_nodes(project.id) == []


async def test_discard_all_and_unknown(store: Store, project: Project) -> None:
    a = await stage(store, project.id, K.SERVICE_CREATE, image_service("api"))
    b = await stage(store, project.id, K.PROJECT_UPDATE, {"name": "Renamed"})
    assert await store.pending_changes.discard_pending_changes(project.id) == [a.id, b.id]
    assert await store.pending_changes.list_pending_changes(project.id) == []
    with pytest.raises(Error) as info:
        await store.pending_changes.discard_pending_changes(project.id, "nope")
    assert (info.value.code, info.value.message) == ("not_found", "Pending change not found.")


# --- applying ------------------------------------------------------------------------------------


async def test_apply_creates_services_with_env_nodes_domains_and_first_deployments(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    db = await stage(store, project.id, K.SERVICE_CREATE, image_service("db", "postgres:16", 5432, x=5, y=6))
    api = await stage(store, project.id, K.SERVICE_CREATE, image_service("api", env_vars={"MODE": "prod"}))
    await stage(
        store,
        project.id,
        K.ENV_VAR_CREATE,
        {"scope": "service", "scope_id": api.target_temp_id, "key": "DB", "value": "${{db.HOST}}:${{db.PORT}}"},
    )
    bus.clear()
    result = await store.pending_changes.apply_pending_changes(project.id, "user-1")
    assert result.applied_count == 3
    db_id, api_id = (
        result.temp_id_to_service_id[str(db.target_temp_id)],
        result.temp_id_to_service_id[str(api.target_temp_id)],
    )
    assert len(result.created_deployments) == 2
    api_deployment = await store.deployments.get_deployment(result.created_deployments[1])
    assert api_deployment.service_id == api_id
    assert api_deployment.env_vars == {"MODE": "prod", "DB": "db:5432"}
    assert api_deployment.created_by == "user-1"
    nodes = {n.id: n for n in await store.canvas.list_nodes(project.id)}
    assert set(nodes) == {db_id, api_id}
    assert (nodes[db_id].position_x, nodes[db_id].data["staged"]) == (5.0, False)
    [edge] = await store.canvas.list_edges(project.id)
    assert (edge.source, edge.target, edge.type, edge.data) == (api_id, db_id, EdgeType.ENV_REF, {"keys": ["DB"]})
    [domain] = await store.domains.list_domains(api_id)
    assert (domain.hostname, domain.is_generated) == (f"api-{project.slug}.example.test", True)
    assert await store.pending_changes.list_pending_changes(project.id) == []
    assert bus.types().count(EventType.SERVICE_CREATED) == 2
    assert bus.types().count(EventType.DEPLOYMENT_CREATED) == 2
    assert bus.types()[-1] == EventType.CHANGES_APPLIED
    applied = dict(bus.events[-1].payload)
    changes = applied.pop("changes")
    assert applied == {
        "applied_count": 3,
        "temp_id_to_service_id": result.temp_id_to_service_id,
        "created_deployments": result.created_deployments,
        "user_id": "user-1",
    }
    # The diff, for the audit log: every change applied, in order, with its payload.
    assert [c["kind"] for c in changes] == ["service.create", "service.create", "env_var.create"]


async def test_apply_redeploys_only_services_whose_config_or_env_changed(store: Store, project: Project) -> None:
    group = await add_group(store, project.id, "backend")
    [api, web, worker], _ = await deploy_services(
        store,
        project.id,
        image_service("api", group_id=group.id),
        image_service("web"),
        image_service("worker", port=None, group_id=group.id),
    )

    async def apply_deploys() -> set[str]:
        result = await store.pending_changes.apply_pending_changes(project.id, None)
        return {(await store.deployments.get_deployment(d)).service_id for d in result.created_deployments}

    await stage(store, project.id, K.SERVICE_UPDATE, {"replicas": 2}, target_id=web.id)
    assert await apply_deploys() == {web.id}
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "group", "scope_id": group.id, "key": "G", "value": "1"})
    assert await apply_deploys() == {api.id, worker.id}
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    assert await apply_deploys() == {api.id, web.id, worker.id}
    await stage(store, project.id, K.PROJECT_UPDATE, {"name": "Renamed"})
    assert await apply_deploys() == set()
    await stage(store, project.id, K.ENV_VAR_UPDATE, {"value": "1"}, target_id=await env_id(store, project.id, "P"))
    assert await apply_deploys() == set()
    assert (await store.projects.get_project(project.id)).name == "Renamed"


async def test_a_port_change_redeploys_the_services_that_refer_to_it(store: Store, project: Project) -> None:
    [db, api], _ = await deploy_services(
        store, project.id, image_service("db", port=5432), image_service("api", env_vars={"DB": "${{db.PORT}}"})
    )
    await stage(store, project.id, K.SERVICE_UPDATE, {"port": 6543}, target_id=db.id)
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    assert len(result.created_deployments) == 2
    refreshed = await store.env_vars.resolve_service_env(api.id)
    assert refreshed.values == {"DB": "6543"}


async def test_rename_rewrites_references_keeps_the_slug_and_edges(store: Store, project: Project) -> None:
    [db, api], _ = await deploy_services(
        store, project.id, image_service("db", port=5432), image_service("api", env_vars={"DB": "${{db.HOST}}"})
    )
    await stage(store, project.id, K.SERVICE_UPDATE, {"name": "postgres"}, target_id=db.id)
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    assert result.created_deployments == []  # the address did not change: no restart needed
    renamed = await store.services.get_service(db.id)
    assert (renamed.name, renamed.slug) == ("postgres", "db")
    [var] = await store.env_vars.list_env_vars(EnvVarFilter(scope=Scope.SERVICE, scope_id=api.id))
    assert var.value == "${{postgres.HOST}}"
    assert (await store.env_vars.resolve_service_env(api.id)).values == {"DB": "db"}
    [edge] = await store.canvas.list_edges(project.id)
    assert (edge.source, edge.target) == (api.id, db.id)
    assert (await store.canvas.get_node(project.id, db.id)).data["name"] == "postgres"
    await stage(store, project.id, K.SERVICE_CREATE, image_service("db"))
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    new_db = await store.services.get_service(next(iter(result.temp_id_to_service_id.values())))
    assert new_db.slug == "db-2"


async def test_apply_delete_removes_everything_of_the_service(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    [db, api], _ = await deploy_services(
        store,
        project.id,
        image_service("db", port=5432, volumes=[{"name": "data", "mount_path": "/data"}], env_vars={"X": "1"}),
        image_service("api", env_vars={"DB": "${{db.HOST}}"}),
    )
    bus.clear()
    await stage(store, project.id, K.SERVICE_DELETE, target_id=db.id)
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    assert await service_names(store, project.id) == ["api"]
    assert await store.env_vars.list_env_vars(EnvVarFilter(scope=Scope.SERVICE, scope_id=db.id)) == []
    assert [n.id for n in await store.canvas.list_nodes(project.id)] == [api.id]
    assert await store.canvas.list_edges(project.id) == []
    [deleted] = bus.of(EventType.SERVICE_DELETED)
    assert deleted.payload == {
        "name": "db",
        "project_slug": project.slug,
        "service_slug": "db",
        "network": f"dk-{project.slug}",
        "volumes": [f"dk_{project.slug}_db_data"],
    }
    # api's reference no longer resolves, so its env changed: it is redeployed with the literal.
    [deployment] = result.created_deployments
    assert (await store.deployments.get_deployment(deployment)).env_vars == {"DB": "${{db.HOST}}"}


async def test_create_then_delete_in_one_apply_leaves_nothing(store: Store, project: Project) -> None:
    create = await stage(store, project.id, K.SERVICE_CREATE, image_service("api"))
    await stage(store, project.id, K.SERVICE_DELETE, target_temp_id=create.target_temp_id)
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    assert result.created_deployments == []
    assert await service_names(store, project.id) == []
    assert await store.canvas.list_nodes(project.id) == []


async def test_move_applies_group_and_parent(store: Store, project: Project) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    group = await add_group(store, project.id)
    await stage(store, project.id, K.SERVICE_MOVE, {"group_id": group.id}, target_id=api.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert (await store.services.get_service(api.id)).group_id == group.id
    assert (await store.canvas.get_node(project.id, api.id)).parent_id == group.id
    assert [n.id for n in await store.canvas.list_nodes(project.id)] == [group.id, api.id]


async def move_into(
    store: Store, project: Project, node_id: str, group_id: str, at: tuple[float, float], origin: Any = None
) -> PendingChange:
    """What the canvas does on a drop: the node joins the group at ``at`` (in its coordinates),
    then the move is staged with where the drag began (``origin``, if given)."""
    node = await store.canvas.get_node(project.id, node_id)
    node.parent_id, (node.position_x, node.position_y) = group_id, at
    await store.canvas.upsert_node(node)
    payload = {"group_id": group_id} if origin is None else {"group_id": group_id, "origin": origin}
    return await stage(store, project.id, K.SERVICE_MOVE, payload, target_id=node_id)


async def deployed_with_groups(store: Store, project: Project, *group_ids: str) -> tuple[Service, list[CanvasNode]]:
    """A deployed service ``api`` and empty groups of these ids."""
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    return api, [await add_group(store, project.id, g) for g in group_ids]


async def place_of(store: Store, project: Project, node_id: str) -> tuple[str | None, float, float]:
    node = await store.canvas.get_node(project.id, node_id)
    return node.parent_id, node.position_x, node.position_y


async def test_discarding_a_move_puts_the_node_back_where_it_was(store: Store, project: Project) -> None:
    api, [group] = await deployed_with_groups(store, project, "group-1")
    move = await move_into(store, project, api.id, group.id, (30, 20), {"parent_id": None, "x": 40, "y": 50})
    assert move.payload["origin"] == {"parent_id": None, "x": 40.0, "y": 50.0}
    assert await store.pending_changes.discard_pending_changes(project.id, move.id) == [move.id]
    assert await place_of(store, project, api.id) == (None, 40.0, 50.0)
    assert (await store.services.get_service(api.id)).group_id is None


async def test_discarding_the_last_of_several_moves_goes_back_to_before_the_first(
    store: Store, project: Project
) -> None:
    api, [g1, g2] = await deployed_with_groups(store, project, "g1", "g2")
    await move_into(store, project, api.id, g1.id, (10, 10), {"parent_id": None, "x": 40, "y": 50})
    last = await move_into(store, project, api.id, g2.id, (15, 15), {"parent_id": g1.id, "x": 10, "y": 10})
    assert [c.id for c in await store.pending_changes.list_pending_changes(project.id)] == [last.id]
    await store.pending_changes.discard_pending_changes(project.id)
    assert await place_of(store, project, api.id) == (None, 40.0, 50.0)


async def test_a_discarded_move_without_origin_keeps_the_node_where_it_is_on_the_canvas(
    store: Store, project: Project
) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    group = await store.canvas.upsert_node(
        CanvasNode(id="g", project_id=project.id, type=NodeType.GROUP, position_x=300, position_y=200)
    )
    move = await move_into(store, project, api.id, group.id, (30, 20))  # at (330, 220) on the canvas
    await store.pending_changes.discard_pending_changes(project.id, move.id)
    assert await place_of(store, project, api.id) == (None, 330.0, 220.0)


async def test_a_discarded_move_out_of_a_deleted_group_leaves_the_node_at_the_top(
    store: Store, project: Project
) -> None:
    api, [home, other] = await deployed_with_groups(store, project, "home", "other")
    await stage(store, project.id, K.SERVICE_MOVE, {"group_id": home.id}, target_id=api.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    move = await move_into(store, project, api.id, other.id, (5, 5), {"parent_id": home.id, "x": 20, "y": 30})
    await store.canvas.delete_node(project.id, home.id)  # while the move is staged
    assert await store.pending_changes.discard_pending_changes(project.id, move.id) == [move.id]
    assert (await place_of(store, project, api.id))[0] is None


async def test_a_malformed_move_origin_is_refused_and_nothing_is_staged(store: Store, project: Project) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    group = await add_group(store, project.id)
    with pytest.raises(Error) as caught:
        await stage(store, project.id, K.SERVICE_MOVE, {"group_id": group.id, "origin": {"x": "a"}}, target_id=api.id)
    assert caught.value.message == "origin.x: must be a finite number"
    assert await store.pending_changes.list_pending_changes(project.id) == []


async def test_a_staged_service_node_shows_its_source_and_port(store: Store, project: Project) -> None:
    create = await stage(store, project.id, K.SERVICE_CREATE, {**image_service("api"), "port": 8080})
    assert create.target_temp_id is not None
    node = await store.canvas.get_node(project.id, create.target_temp_id)
    assert node.data["staged"] is True
    assert (node.data["source"], node.data["port"]) == (create.payload["source"], 8080)


@pytest.mark.parametrize(
    ("sabotage", "code", "message"),
    [
        ("name-taken", "conflict", "A service named 'web' already exists in this project."),
        ("env-var-gone", "not_found", "Env var not found."),
        ("service-gone", "not_found", "Service not found."),
    ],
)
async def test_a_failed_apply_changes_nothing_and_publishes_nothing(
    store: Store, project: Project, bus: RecordingBus, sabotage: str, code: str, message: str
) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    await stage(store, project.id, K.ENV_VAR_CREATE, {"scope": "project", "key": "P", "value": "1"})
    await store.pending_changes.apply_pending_changes(project.id, None)
    await stage(store, project.id, K.SERVICE_CREATE, image_service("web"))
    await stage(store, project.id, K.PROJECT_UPDATE, {"name": "Renamed"})
    await stage(store, project.id, K.ENV_VAR_UPDATE, {"value": "2"}, target_id=await env_id(store, project.id, "P"))
    await stage(store, project.id, K.SERVICE_UPDATE, {"replicas": 3}, target_id=api.id)
    # The world moves underneath the staged log (another writer), so apply meets an error midway.
    async with store.db.tx() as tx:
        if sabotage == "name-taken":
            await insert_service(tx, project.id, "WEB", ServiceConfig.from_dict(image_service("x")))
        elif sabotage == "env-var-gone":
            await tx.execute("DELETE FROM env_vars WHERE key = 'P'")
        else:
            await tx.execute("DELETE FROM services WHERE id = ?", (api.id,))
    before = await snapshot(store, project.id)
    bus.clear()
    with pytest.raises(Error) as info:
        await store.pending_changes.apply_pending_changes(project.id, None)
    assert (info.value.code, info.value.message) == (code, message)
    assert await snapshot(store, project.id) == before
    assert bus.events == []


async def test_apply_of_an_empty_log_is_a_no_op(store: Store, project: Project, bus: RecordingBus) -> None:
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    assert (result.applied_count, result.temp_id_to_service_id, result.created_deployments) == (0, {}, [])
    with pytest.raises(Error) as info:
        await store.pending_changes.apply_pending_changes("nope", None)
    assert (info.value.code, info.value.message) == ("not_found", "Project not found.")
