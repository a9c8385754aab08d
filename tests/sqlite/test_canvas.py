"""CanvasService: nodes parents first, edges, and the managed env-reference edges."""

from __future__ import annotations

import pytest

from deploykit.canvas import CanvasEdge, CanvasNode, EdgeType, NodePosition, NodeType
from deploykit.envvar import EnvVarFilter
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind
from deploykit.project import Project
from deploykit_sqlite import Store
from tests.sqlite.support import deploy_services, image_service, stage


def node(project: Project, id: str, type: NodeType = NodeType.NOTE, parent: str | None = None) -> CanvasNode:
    return CanvasNode(id=id, project_id=project.id, type=type, parent_id=parent, data={"text": id})


async def test_nodes_come_parents_first(store: Store, project: Project) -> None:
    # Children are written before their parents exist in the final tree shape.
    await store.canvas.upsert_node(node(project, "outer", NodeType.GROUP))
    await store.canvas.upsert_node(node(project, "note"))
    await store.canvas.upsert_node(node(project, "inner", NodeType.GROUP))
    await store.canvas.upsert_node(node(project, "leaf", parent="inner"))
    await store.canvas.upsert_node(node(project, "inner", NodeType.GROUP, parent="outer"))
    order = [n.id for n in await store.canvas.list_nodes(project.id)]
    assert order.index("outer") < order.index("inner") < order.index("leaf")
    assert set(order) == {"outer", "note", "inner", "leaf"}


@pytest.mark.parametrize(
    ("parent", "message"),
    [
        ("missing", "parent_id: must be a group node of this project"),
        ("note", "parent_id: must be a group node of this project"),
        ("self", "parent_id: must not be the node itself"),
        ("child", "parent_id: would make a cycle"),
    ],
)
async def test_upsert_node_rejects_bad_parents(store: Store, project: Project, parent: str, message: str) -> None:
    await store.canvas.upsert_node(node(project, "note"))
    await store.canvas.upsert_node(node(project, "self", NodeType.GROUP))
    await store.canvas.upsert_node(node(project, "child", NodeType.GROUP, parent="self"))
    with pytest.raises(Error) as info:
        await store.canvas.upsert_node(node(project, "self", NodeType.GROUP, parent=parent))
    assert (info.value.code, info.value.message) == ("invalid", message)


async def test_upsert_node_in_unknown_project(store: Store, project: Project) -> None:
    with pytest.raises(Error) as info:
        await store.canvas.upsert_node(CanvasNode(id="n", project_id="nope", type=NodeType.NOTE))
    assert (info.value.code, info.value.message) == ("not_found", "Project not found.")


async def test_deleting_a_group_moves_children_up_and_drops_its_edges(store: Store, project: Project) -> None:
    await store.canvas.upsert_node(node(project, "outer", NodeType.GROUP))
    await store.canvas.upsert_node(node(project, "inner", NodeType.GROUP, parent="outer"))
    await store.canvas.upsert_node(node(project, "leaf", parent="inner"))
    await store.canvas.upsert_edge(CanvasEdge(id="e", project_id=project.id, source="inner", target="leaf"))
    await store.canvas.delete_node(project.id, "inner")
    assert (await store.canvas.get_node(project.id, "leaf")).parent_id == "outer"
    assert await store.canvas.list_edges(project.id) == []
    with pytest.raises(Error) as info:
        await store.canvas.delete_node(project.id, "inner")
    assert (info.value.code, info.value.message) == ("not_found", "Node not found.")


async def test_move_nodes_updates_known_ids_only(store: Store, project: Project) -> None:
    await store.canvas.upsert_node(node(project, "a"))
    moved = await store.canvas.move_nodes(project.id, [NodePosition("a", 1.5, 2.5), NodePosition("ghost", 3, 4)])
    assert moved == [NodePosition("a", 1.5, 2.5)]
    a = await store.canvas.get_node(project.id, "a")
    assert (a.position_x, a.position_y) == (1.5, 2.5)


async def test_user_edges_and_managed_edges(store: Store, project: Project) -> None:
    [db, api], _ = await deploy_services(
        store, project.id, image_service("db", port=5432), image_service("api", env_vars={"H": "${{db.HOST}}"})
    )
    [managed] = await store.canvas.list_edges(project.id)
    assert managed.managed
    for attempt in (
        store.canvas.upsert_edge(CanvasEdge(id=managed.id, project_id=project.id, source=api.id, target=db.id)),
        store.canvas.upsert_edge(
            CanvasEdge(id="x", project_id=project.id, source=api.id, target=db.id, type=EdgeType.ENV_REF)
        ),
        store.canvas.delete_edge(project.id, managed.id),
    ):
        with pytest.raises(Error) as info:
            await attempt
        assert (info.value.code, info.value.message) == ("invalid", "Managed env-reference edges cannot be edited.")
    user = await store.canvas.upsert_edge(
        CanvasEdge(id="u1", project_id=project.id, source=db.id, target=api.id, data={"label": "feeds"})
    )
    assert (user.type, user.data) == (EdgeType.USER, {"label": "feeds"})
    with pytest.raises(Error) as info:
        await store.canvas.upsert_edge(CanvasEdge(id="u2", project_id=project.id, source=db.id, target="ghost"))
    assert (info.value.code, info.value.message) == ("invalid", "An edge must join two nodes of this project.")
    await store.canvas.delete_edge(project.id, "u1")
    with pytest.raises(Error) as info:
        await store.canvas.delete_edge(project.id, "u1")
    assert (info.value.code, info.value.message) == ("not_found", "Edge not found.")
    # Removing the reference removes the managed edge on the next apply.
    [var] = await store.env_vars.list_env_vars(EnvVarFilter(scope_id=api.id))
    await stage(store, project.id, ChangeKind.ENV_VAR_UPDATE, {"value": "static"}, target_id=var.id)
    await store.pending_changes.apply_pending_changes(project.id, None)
    assert await store.canvas.list_edges(project.id) == []


async def test_a_staged_node_keeps_its_position_when_the_service_is_applied(store: Store, project: Project) -> None:
    change = await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("api"))
    temp = str(change.target_temp_id)
    await store.canvas.move_nodes(project.id, [NodePosition(temp, 42, 43)])
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    real = result.temp_id_to_service_id[temp]
    [applied] = await store.canvas.list_nodes(project.id)
    assert (applied.id, applied.position_x, applied.position_y) == (real, 42, 43)
    assert applied.data == {"name": "api", "service_id": real, "staged": False}


async def test_a_staged_node_dragged_into_a_group_puts_the_service_in_it(store: Store, project: Project) -> None:
    group = await store.canvas.upsert_node(node(project, "g", NodeType.GROUP))
    change = await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("api"))
    staged = await store.canvas.get_node(project.id, str(change.target_temp_id))
    staged.parent_id = group.id
    await store.canvas.upsert_node(staged)
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    service = await store.services.get_service(result.temp_id_to_service_id[str(change.target_temp_id)])
    assert service.group_id == group.id
    assert (await store.canvas.get_node(project.id, service.id)).parent_id == group.id


async def test_deleting_a_group_moves_its_services_up_and_drops_its_vars(store: Store, project: Project) -> None:
    outer = await store.canvas.upsert_node(node(project, "outer", NodeType.GROUP))
    inner = await store.canvas.upsert_node(node(project, "inner", NodeType.GROUP, parent=outer.id))
    [api], _ = await deploy_services(store, project.id, image_service("api", group_id=inner.id))
    await stage(
        store, project.id, ChangeKind.ENV_VAR_CREATE, {"scope": "group", "scope_id": inner.id, "key": "G", "value": "1"}
    )
    await store.pending_changes.apply_pending_changes(project.id, None)
    await store.canvas.delete_node(project.id, inner.id)
    assert (await store.services.get_service(api.id)).group_id == outer.id
    assert (await store.canvas.get_node(project.id, api.id)).parent_id == outer.id
    assert await store.env_vars.list_env_vars(EnvVarFilter(project_id=project.id)) == []
