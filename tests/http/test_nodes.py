"""The nodes routes over a fake NodeService: admins only, shapes, drain/activate, join command."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette

from deploykit.errors import CONFLICT, NOT_FOUND, Error
from deploykit.node import JoinCommand, Node, NodeAvailability, NodeRole, NodeService, NodeState
from deploykit_http.app import build_app
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for, make_app
from tests.http.fakes import World


def unset(name: str) -> Callable[..., Awaitable[Any]]:
    async def fail(*args: object) -> Any:
        raise AssertionError(f"{name} was not expected")

    return fail


@dataclass
class FakeNodes(NodeService):
    list_nodes_fn: Callable[[], Awaitable[list[Node]]] = field(default_factory=lambda: unset("list_nodes"))
    set_availability_fn: Callable[[str, NodeAvailability], Awaitable[Node]] = field(
        default_factory=lambda: unset("set_availability")
    )
    join_command_fn: Callable[[], Awaitable[JoinCommand]] = field(default_factory=lambda: unset("join_command"))

    async def list_nodes(self) -> list[Node]:
        return await self.list_nodes_fn()

    async def set_availability(self, id: str, availability: NodeAvailability) -> Node:
        return await self.set_availability_fn(id, availability)

    async def join_command(self) -> JoinCommand:
        return await self.join_command_fn()


def app_with(world: World, settings: HTTPSettings, nodes: FakeNodes) -> Starlette:
    return build_app(dataclasses.replace(world.collaborators(), nodes=nodes), settings)


MANAGER = Node(
    id="m1",
    hostname="vm",
    role=NodeRole.MANAGER,
    availability=NodeAvailability.ACTIVE,
    state=NodeState.READY,
    engine_version="20.10.24",
    cpus=2.0,
    memory_bytes=8 * 1024**3,
    running_tasks=3,
    address="192.0.2.2",
    leader=True,
)
WORKER = dataclasses.replace(
    MANAGER, id="w1", hostname="node-2", role=NodeRole.WORKER, running_tasks=0, address="10.0.0.2", leader=False
)


async def test_admins_see_the_nodes(world: World, settings: HTTPSettings) -> None:
    async def listed() -> list[Node]:
        return [MANAGER, WORKER]

    async with client_for(app_with(world, settings, FakeNodes(list_nodes_fn=listed))) as c:
        r = await c.get("/nodes")
    assert r.status_code == 200, r.text
    assert r.json()["total_count"] == 2
    assert r.json()["data"][0] == {
        "id": "m1",
        "hostname": "vm",
        "role": "manager",
        "availability": "active",
        "state": "ready",
        "engine_version": "20.10.24",
        "cpus": 2.0,
        "memory_bytes": 8 * 1024**3,
        "running_tasks": 3,
        "address": "192.0.2.2",
        "leader": True,
        "message": "",
    }
    assert [(n["hostname"], n["role"]) for n in r.json()["data"]] == [("vm", "manager"), ("node-2", "worker")]


@pytest.mark.parametrize(("path", "availability"), [("drain", "drain"), ("activate", "active")])
async def test_drain_and_activate_set_the_availability_and_answer_the_node(
    world: World, settings: HTTPSettings, path: str, availability: str
) -> None:
    asked: list[tuple[str, NodeAvailability]] = []

    async def set_availability(id: str, a: NodeAvailability) -> Node:
        asked.append((id, a))
        return dataclasses.replace(WORKER, availability=a)

    async with client_for(app_with(world, settings, FakeNodes(set_availability_fn=set_availability))) as c:
        r = await c.post(f"/nodes/w1/{path}")
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["availability"]) == ("w1", availability)
    assert asked == [("w1", NodeAvailability(availability))]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Error(NOT_FOUND, "Node nope not found."), 404),
        (Error(CONFLICT, "This daemon runs one Docker engine."), 409),
    ],
)
async def test_drain_errors_are_rendered_with_their_code(
    world: World, settings: HTTPSettings, error: Error, status: int
) -> None:
    async def refuse(id: str, a: NodeAvailability) -> Node:
        raise error

    async with client_for(app_with(world, settings, FakeNodes(set_availability_fn=refuse))) as c:
        r = await c.post("/nodes/nope/drain")
    assert (r.status_code, r.json()["error"], r.json()["message"]) == (status, error.code, error.message)


async def test_the_join_command_names_the_token_and_the_manager(world: World, settings: HTTPSettings) -> None:
    async def join() -> JoinCommand:
        return JoinCommand(token="SWMTKN-1-abc", manager_address="192.0.2.2:2377")

    async with client_for(app_with(world, settings, FakeNodes(join_command_fn=join))) as c:
        r = await c.get("/nodes/join")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "token": "SWMTKN-1-abc",
        "manager_address": "192.0.2.2:2377",
        "command": "docker swarm join --token SWMTKN-1-abc 192.0.2.2:2377",
    }


@pytest.mark.parametrize(("token", "status"), [("member-token", 403), (None, 401)])
async def test_members_and_strangers_may_not_see_or_change_nodes(
    world: World, settings: HTTPSettings, token: str | None, status: int
) -> None:
    async with client_for(app_with(world, settings, FakeNodes()), token) as c:
        assert (await c.get("/nodes")).status_code == status
        assert (await c.get("/nodes/join")).status_code == status
        assert (await c.post("/nodes/w1/drain")).status_code == status
        assert (await c.post("/nodes/w1/activate")).status_code == status


async def test_without_a_node_service_the_routes_answer_503(world: World, settings: HTTPSettings) -> None:
    async with client_for(make_app(world, settings)) as c:
        r = await c.get("/nodes")
    assert (r.status_code, r.json()["error"]) == (503, "unavailable")
