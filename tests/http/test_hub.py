"""The canvas hub's room mechanics with fake sockets: fan-out, slow clients, bus events, sessions."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocketState

from deploykit.auth import Identity
from deploykit.bus import Event, EventType
from deploykit.canvas import CanvasEdge, CanvasNode, EdgeType, NodeType
from deploykit.pending_change import ChangeKind, PendingChange
from deploykit_http.context import HTTPSettings
from deploykit_http.hub import CanvasHub
from deploykit_http.identity import Identities
from deploykit_http.rooms import Client, Room
from deploykit_http.shapes import serialize
from deploykit_http.shapes.staging import (
    CanvasEdgeOut,
    CanvasNodeOut,
    PendingChangeOut,
    edge_out,
    node_out,
    pending_change_out,
)
from tests.http.fakes import ADMIN, MEMBER, World
from tests.wait import wait_for


@dataclass
class FakeSocket:
    """Records what the hub sends; ``stuck`` makes every send wait forever (a dead network)."""

    stuck: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)
    closed: tuple[int, str] | None = None
    application_state: WebSocketState = WebSocketState.CONNECTED
    client_state: WebSocketState = WebSocketState.CONNECTED

    async def send_text(self, text: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]


def join(hub: CanvasHub, identity: Identity, sock: FakeSocket, queue: int = 100) -> Client:
    client = Client(ws=sock, project_id="p1", identity=identity, token="t", queue=asyncio.Queue(queue))  # type: ignore[arg-type]
    hub.rooms.setdefault("p1", Room("p1")).clients.add(client)
    client.writer = asyncio.create_task(hub._write(client))
    return client


def hub_for(world: World, **settings: Any) -> CanvasHub:
    c = world.collaborators()
    return CanvasHub(c, HTTPSettings(**settings), Identities(c.auth, c.clock))


async def test_a_slow_client_is_disconnected_and_never_holds_the_room_back() -> None:
    hub = hub_for(World(), ws_send_queue=4)
    fast_sock, slow_sock = FakeSocket(), FakeSocket(stuck=True)
    join(hub, Identity(user=ADMIN, session_id="a"), fast_sock)
    join(hub, Identity(user=MEMBER, session_id="b"), slow_sock, queue=4)
    for i in range(50):
        hub.broadcast("p1", "cursor:updated", {"x": i})
    await wait_for(
        lambda: len(fast_sock.sent) == 50 and slow_sock.closed is not None,
        within=2,
        interval=0.005,
        message="all 50 messages to the fast client and the slow one closed",
    )
    assert slow_sock.closed == (1008, "Too slow; reconnect.")
    assert hub.disconnected_slow == 1
    assert [m["payload"]["x"] for m in fast_sock.sent] == list(range(50))


async def test_bus_events_of_a_project_reach_its_room_only() -> None:
    world = World()
    hub = hub_for(world)
    await hub.start()
    try:
        sock = FakeSocket()
        join(hub, Identity(user=ADMIN, session_id="a"), sock)
        world.bus.publish(Event(EventType.DEPLOYMENT_HEALTHY, project_id="other", service_id="x"))
        world.bus.publish(Event(EventType.BUILD_LOG, project_id="p1", service_id="s1", payload={"line": "x"}))
        world.bus.publish(
            Event(EventType.DEPLOYMENT_HEALTHY, project_id="p1", service_id="s1", payload={"deployment_id": "d1"})
        )
        world.bus.publish(
            Event(EventType.SERVICE_STATUS_CHANGED, project_id="p1", service_id="s1", payload={"status": "running"})
        )
        await wait_for(lambda: len(sock.sent) == 2, within=2, interval=0.005, message="two messages sent")
        assert sock.sent == [
            {"type": "deployment:healthy", "payload": {"deployment_id": "d1", "service_id": "s1", "project_id": "p1"}},
            {
                "type": "service:status-changed",
                "payload": {"status": "running", "service_id": "s1", "project_id": "p1"},
            },
        ]
    finally:
        await hub.stop()
    assert sock.closed == (1001, "Server shutting down.")


async def test_sockets_of_ended_sessions_are_closed_with_4001() -> None:
    world = World()
    world.auth.session_active_fn = lambda session_id: session_id == "alive"
    hub = hub_for(world)
    alive, ended = FakeSocket(), FakeSocket()
    join(hub, Identity(user=ADMIN, session_id="alive"), alive)
    join(hub, Identity(user=MEMBER, session_id="gone"), ended)
    await hub.check_sessions()
    assert ended.closed == (4001, "Session ended.")
    assert alive.closed is None


async def test_ending_a_user_closes_every_socket_of_that_user() -> None:
    hub = hub_for(World())
    first, second, other = FakeSocket(), FakeSocket(), FakeSocket()
    join(hub, Identity(user=MEMBER, session_id="1"), first)
    join(hub, Identity(user=MEMBER, session_id="2"), second)
    join(hub, Identity(user=ADMIN, session_id="3"), other)
    await hub.end_user(MEMBER.id)
    assert first.closed == second.closed == (4001, "Logged out.")
    assert other.closed is None


async def test_staged_changes_nodes_and_an_apply_reach_the_room_from_the_bus() -> None:
    world = World()
    node = CanvasNode(id="tmp_a", project_id="p1", type=NodeType.SERVICE, data={"name": "a", "staged": True})
    applied = CanvasNode(id="s-a", project_id="p1", type=NodeType.SERVICE, data={"name": "a"})
    world.canvas.list_nodes_fn = lambda project_id: [applied]
    world.canvas.list_edges_fn = lambda project_id: []
    change = PendingChange(id="c1", project_id="p1", kind=ChangeKind.SERVICE_CREATE, payload={"name": "a"})
    edge = CanvasEdge(id="e1", project_id="p1", source="s-a", target="n1", type=EdgeType.USER)
    hub = hub_for(world)
    await hub.start()
    try:
        sock = FakeSocket()
        join(hub, Identity(user=ADMIN, session_id="a"), sock)
        events: list[tuple[EventType, dict[str, Any]]] = [
            (EventType.NODE_UPSERTED, {"node": node}),
            (EventType.PENDING_CHANGE_ADDED, {"change": change}),
            (EventType.PENDING_CHANGES_REMOVED, {"ids": ["c0"]}),
            (EventType.NODE_DELETED, {"id": "n1"}),
            (EventType.EDGE_UPSERTED, {"edge": edge}),
            (EventType.EDGE_DELETED, {"id": "e1"}),
            (EventType.PENDING_CHANGES_CLEARED, {"ids": []}),
            (
                EventType.CHANGES_APPLIED,
                {"applied_count": 1, "temp_id_to_service_id": {"tmp_a": "s-a"}, "user_id": "u"},
            ),
        ]
        for type, payload in events:
            world.bus.publish(Event(type, project_id="p1", payload=payload))
        await wait_for(lambda: len(sock.sent) == 9, within=2, interval=0.005, message="nine messages sent")
    finally:
        await hub.stop()
    assert sock.types() == [
        "node:upserted",
        "pending-change:added",
        "pending-changes:removed",
        "node:deleted",
        "edge:upserted",
        "edge:deleted",
        "pending-changes:cleared",
        "pending-changes:applied",
        "canvas:state",
    ]
    assert sock.sent[0]["payload"] == json.loads(serialize(CanvasNodeOut, node_out(node)))
    assert sock.sent[1]["payload"] == json.loads(serialize(PendingChangeOut, pending_change_out(change)))
    assert sock.sent[4]["payload"] == json.loads(serialize(CanvasEdgeOut, edge_out(edge)))
    assert sock.sent[7]["payload"] == {"applied_count": 1, "temp_id_to_service_id": {"tmp_a": "s-a"}, "user_id": "u"}
    assert [n["id"] for n in sock.sent[8]["payload"]["nodes"]] == ["s-a"]
