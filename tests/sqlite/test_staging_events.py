"""What the store publishes after commit for staging and the canvas: the one channel the canvas
rooms and the reconciler follow."""

from __future__ import annotations

import pytest

from deploykit.bus import EventType
from deploykit.canvas import CanvasEdge, CanvasNode, EdgeType, NodePosition, NodeType
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind
from deploykit.project import Project, ProjectCreate
from deploykit.service import ImageSource, ServiceConfig
from deploykit.staging import ServiceStage
from deploykit_sqlite import Store
from tests.sqlite.support import RecordingBus, add_group, deploy_services, image_service, stage


async def test_staging_a_service_publishes_its_node_then_its_change(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    bus.clear()
    config = ServiceConfig(source=ImageSource("nginx:1.27"), port=80)
    staged = await store.pending_changes.stage_service(
        ServiceStage(project_id=project.id, name="api", config=config, position=(3.0, 4.0), env={"A": "1"})
    )
    assert bus.types() == [EventType.NODE_UPSERTED, EventType.PENDING_CHANGE_ADDED]
    node_event, change_event = bus.events
    assert node_event.project_id == change_event.project_id == project.id
    assert node_event.payload["node"] == staged.node
    assert staged.node is not None
    assert (staged.node.id, staged.node.position_x, staged.node.data["staged"]) == (staged.temp_id, 3.0, True)
    assert change_event.payload["change"] == staged.change
    assert staged.change.payload["env_vars"] == {"A": "1"}


async def test_a_refused_change_publishes_nothing(store: Store, project: Project, bus: RecordingBus) -> None:
    await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("api"))
    bus.clear()
    with pytest.raises(Error) as caught:
        await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("API"))
    assert caught.value.code == "conflict"
    assert bus.events == []


async def test_a_new_move_replaces_the_earlier_one_and_says_so(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    [api], _ = await deploy_services(store, project.id, image_service("api"))
    await add_group(store, project.id, "g1")
    await add_group(store, project.id, "g2")
    first = await stage(store, project.id, ChangeKind.SERVICE_MOVE, {"group_id": "g1"}, target_id=api.id)
    bus.clear()
    second = await stage(store, project.id, ChangeKind.SERVICE_MOVE, {"group_id": "g2"}, target_id=api.id)
    assert bus.types() == [EventType.PENDING_CHANGES_REMOVED, EventType.PENDING_CHANGE_ADDED]
    assert bus.events[0].payload == {"ids": [first.id]}
    bus.clear()
    back = await stage(store, project.id, ChangeKind.SERVICE_MOVE, {"group_id": None}, target_id=api.id)
    assert back.id == ""  # back where it is: nothing staged, and the earlier move is gone
    assert [(e.type, e.payload) for e in bus.events] == [(EventType.PENDING_CHANGES_REMOVED, {"ids": [second.id]})]
    assert await store.pending_changes.list_pending_changes(project.id) == []


async def test_discarding_publishes_the_staged_nodes_removed_then_the_changes(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    create = await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("api"))
    update = await stage(
        store, project.id, ChangeKind.SERVICE_UPDATE, {"replicas": 2}, target_temp_id=create.target_temp_id
    )
    other = await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("web"))
    bus.clear()
    assert await store.pending_changes.discard_pending_changes(project.id, create.id) == [create.id, update.id]
    assert [(e.type, e.payload) for e in bus.events] == [
        (EventType.NODE_DELETED, {"id": create.target_temp_id}),
        (EventType.PENDING_CHANGES_REMOVED, {"ids": [create.id, update.id]}),
    ]
    bus.clear()
    assert await store.pending_changes.discard_pending_changes(project.id) == [other.id]
    assert [(e.type, e.payload) for e in bus.events] == [
        (EventType.NODE_DELETED, {"id": other.target_temp_id}),
        (EventType.PENDING_CHANGES_CLEARED, {"ids": [other.id]}),
    ]


async def test_canvas_writes_publish_node_events_but_moves_written_behind_do_not(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    bus.clear()
    saved = await store.canvas.upsert_node(CanvasNode(id="n1", project_id=project.id, type=NodeType.NOTE))
    await store.canvas.move_nodes(project.id, [NodePosition(id="n1", position_x=5, position_y=6)])
    await store.canvas.delete_node(project.id, "n1")
    assert [(e.type, e.payload) for e in bus.events] == [
        (EventType.NODE_UPSERTED, {"node": saved}),
        (EventType.NODE_DELETED, {"id": "n1"}),
    ]


async def test_user_edges_are_published_when_written_and_deleted(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    for id in ("a", "b"):
        await store.canvas.upsert_node(CanvasNode(id=id, project_id=project.id, type=NodeType.NOTE))
    bus.clear()
    edge = CanvasEdge(id="e1", project_id=project.id, source="a", target="b", type=EdgeType.USER, data={"label": "x"})
    saved = await store.canvas.upsert_edge(edge)
    with pytest.raises(Error):
        await store.canvas.upsert_edge(CanvasEdge(id="e2", project_id=project.id, source="a", target="nope"))
    await store.canvas.delete_edge(project.id, "e1")
    assert saved.data == {"label": "x"}
    assert [(e.type, e.project_id, e.payload) for e in bus.events] == [
        (EventType.EDGE_UPSERTED, project.id, {"edge": saved}),
        (EventType.EDGE_DELETED, project.id, {"id": "e1"}),
    ]


async def test_stopping_starting_and_custom_domains_are_published_for_the_reconciler(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    [service], _ = await deploy_services(store, project.id, image_service("api"))
    api = service.id
    bus.clear()
    await store.services.set_service_stopped(api, True)
    await store.services.set_service_stopped(api, False)
    await store.domains.add_domain(api, "Shop.Example.com")
    with pytest.raises(Error):
        await store.domains.delete_domain(api, "other.example.com")
    await store.domains.delete_domain(api, "shop.example.com")
    assert [(e.type, e.project_id, e.service_id, e.payload) for e in bus.events] == [
        (EventType.SERVICE_STOPPED, project.id, api, {}),
        (EventType.SERVICE_STARTED, project.id, api, {}),
        (EventType.DOMAIN_ADDED, project.id, api, {"hostname": "shop.example.com"}),
        (EventType.DOMAIN_REMOVED, project.id, api, {"hostname": "shop.example.com"}),
    ]


async def test_creating_a_project_tells_the_reconciler(store: Store, bus: RecordingBus) -> None:
    bus.clear()
    project = await store.projects.create_project(ProjectCreate(name="Fresh"))
    assert [(e.type, e.project_id, e.payload) for e in bus.events] == [
        (EventType.PROJECT_CREATED, project.id, {"slug": project.slug})
    ]
