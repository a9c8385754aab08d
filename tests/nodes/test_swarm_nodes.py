"""SwarmNodes against a real two-node swarm: the local engine (manager) and a second engine in a
network namespace (worker). The worker is listed with its own hostname, address and resources;
drain and activate change what the manager records; the join command is the swarm's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from deploykit.errors import NOT_FOUND, Error
from deploykit.node import NodeAvailability, NodeRole, NodeState
from deploykit_swarm.nodes import SwarmNodes
from tests.nodes.second_node import NODE_ADDR, SecondNode, run
from tests.wait import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
async def nodes() -> AsyncIterator[SwarmNodes]:
    n = SwarmNodes()
    await n.open()
    try:
        yield n
    finally:
        await n.close()


async def test_the_worker_is_listed_beside_the_manager(nodes: SwarmNodes, worker: SecondNode) -> None:
    listed = await nodes.list_nodes()
    manager_id = run("docker", "info", "--format", "{{.Swarm.NodeID}}").strip()
    by_id = {n.id: n for n in listed}
    manager, node2 = by_id[manager_id], by_id[worker.node_id]
    assert (manager.role, manager.leader, manager.state) == (NodeRole.MANAGER, True, NodeState.READY)
    assert listed.index(manager) < listed.index(node2)  # managers first
    assert (node2.hostname, node2.role, node2.state, node2.address, node2.leader) == (
        "dk-node2",
        NodeRole.WORKER,
        NodeState.READY,
        NODE_ADDR,
        False,
    )
    view = worker.manager_view()
    assert node2.engine_version == view["Description"]["Engine"]["EngineVersion"]
    assert node2.cpus == view["Description"]["Resources"]["NanoCPUs"] / 1e9
    assert node2.memory_bytes == view["Description"]["Resources"]["MemoryBytes"]
    assert node2.availability == NodeAvailability(worker.availability())


async def test_activate_and_drain_change_the_nodes_availability(nodes: SwarmNodes, worker: SecondNode) -> None:
    try:
        active = await nodes.set_availability(worker.node_id, NodeAvailability.ACTIVE)
        assert active.availability == NodeAvailability.ACTIVE
        assert worker.availability() == "active"
        drained = await nodes.set_availability(worker.node_id, NodeAvailability.DRAIN)
        assert drained.availability == NodeAvailability.DRAIN
        assert worker.availability() == "drain"
    finally:
        worker.set_availability("drain")
    with pytest.raises(Error) as missing:
        await nodes.set_availability("nosuchnode0000000000000000", NodeAvailability.DRAIN)
    assert (missing.value.code, missing.value.message) == (NOT_FOUND, "node nosuchnode0000000000000000 not found.")


async def test_running_tasks_are_counted_per_node_and_draining_takes_them_off(
    nodes: SwarmNodes, worker: SecondNode
) -> None:
    """A task pinned to workers runs on the second node, and stops there once it is drained."""
    name = "dk-nodes-test-drain"
    run("docker", "service", "rm", name, check=False)
    worker.set_availability("active")
    try:
        run(
            "docker", "service", "create", "-d", "--name", name, "--constraint", "node.role==worker",
            "--label", "deploykit-test=nodes", "deploykit-test/busybox:latest", "sleep", "3600",
        )  # fmt: skip

        async def on_worker() -> bool:
            by_id = {n.id: n for n in await nodes.list_nodes()}
            return by_id[worker.node_id].running_tasks >= 1

        await wait_for(on_worker, within=60, interval=0.2, message="the service's task to run on the worker")
        await nodes.set_availability(worker.node_id, NodeAvailability.DRAIN)

        async def moved_off() -> bool:
            by_id = {n.id: n for n in await nodes.list_nodes()}
            return by_id[worker.node_id].running_tasks == 0

        await wait_for(moved_off, within=60, interval=0.2, message="the drained worker to run no task")
    finally:
        run("docker", "service", "rm", name, check=False)
        worker.set_availability("drain")


async def test_the_join_command_is_the_swarms_worker_token_and_manager(nodes: SwarmNodes) -> None:
    join = await nodes.join_command()
    token = run("docker", "swarm", "join-token", "-q", "worker").strip()
    manager = run("docker", "info", "--format", "{{.Swarm.NodeAddr}}").strip()
    assert (join.token, join.manager_address) == (token, f"{manager}:2377")
    assert join.command == f"docker swarm join --token {token} {manager}:2377"
