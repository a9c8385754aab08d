"""EngineNode against the real engine: the one local engine is the only node, and draining or
joining (which need a swarm) are refused with the reason."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from deploykit.errors import CONFLICT, NOT_FOUND, Error
from deploykit.node import NodeAvailability, NodeRole, NodeState
from deploykit_docker import DockerRuntime
from deploykit_docker.nodes import NOT_A_SWARM, EngineNode
from tests.reconciler.support import docker_cli

pytestmark = pytest.mark.docker


@pytest.fixture
async def nodes() -> AsyncIterator[EngineNode]:
    rt = DockerRuntime()
    await rt.open()
    try:
        yield EngineNode(rt)
    finally:
        await rt.close()


async def test_the_local_engine_is_the_one_standalone_node(nodes: EngineNode) -> None:
    info = json.loads(await docker_cli("info", "--format", "{{json .}}"))
    [node] = await nodes.list_nodes()
    assert (node.id, node.hostname, node.role, node.availability, node.state) == (
        info["ID"],
        info["Name"],
        NodeRole.STANDALONE,
        NodeAvailability.ACTIVE,
        NodeState.READY,
    )
    assert (node.engine_version, node.cpus, node.memory_bytes) == (
        info["ServerVersion"],
        float(info["NCPU"]),
        info["MemTotal"],
    )
    assert node.running_tasks >= 0


async def test_draining_or_joining_a_single_engine_is_refused(nodes: EngineNode) -> None:
    [node] = await nodes.list_nodes()
    with pytest.raises(Error) as drained:
        await nodes.set_availability(node.id, NodeAvailability.DRAIN)
    with pytest.raises(Error) as missing:
        await nodes.set_availability("no-such-node", NodeAvailability.DRAIN)
    with pytest.raises(Error) as joined:
        await nodes.join_command()
    assert (drained.value.code, drained.value.message) == (CONFLICT, NOT_A_SWARM)
    assert (missing.value.code, missing.value.message) == (NOT_FOUND, "Node no-such-node not found.")
    assert (joined.value.code, joined.value.message) == (CONFLICT, NOT_A_SWARM)
