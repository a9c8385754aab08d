"""``EngineNode``: the domain's NodeService on one Docker engine, which is its only node.

The plain Docker runtime answers the nodes page with the local engine (role ``standalone``), so
the page reads the same as on a swarm; draining and joining need a swarm and are refused.
"""

from __future__ import annotations

from deploykit.errors import CONFLICT, NOT_FOUND, Error
from deploykit.node import JoinCommand, Node, NodeAvailability, NodeRole, NodeService, NodeState
from deploykit_docker.runtime import DockerRuntime

NOT_A_SWARM = "This daemon runs one Docker engine (--runtime docker): draining and joining nodes need --runtime swarm."


class EngineNode(NodeService):
    def __init__(self, runtime: DockerRuntime) -> None:
        self._runtime = runtime

    async def _node(self) -> Node:
        info = await self._runtime.info()
        return Node(
            id=str(info.get("ID") or ""),
            hostname=str(info.get("Name") or ""),
            role=NodeRole.STANDALONE,
            availability=NodeAvailability.ACTIVE,
            state=NodeState.READY,
            engine_version=str(info.get("ServerVersion") or ""),
            cpus=float(info.get("NCPU") or 0),
            memory_bytes=int(info.get("MemTotal") or 0),
            running_tasks=int(info.get("ContainersRunning") or 0),
            address="",
        )

    async def list_nodes(self) -> list[Node]:
        return [await self._node()]

    async def set_availability(self, id: str, availability: NodeAvailability) -> Node:
        node = await self._node()
        if id != node.id:
            raise Error(NOT_FOUND, f"Node {id} not found.")
        raise Error(CONFLICT, NOT_A_SWARM)

    async def join_command(self) -> JoinCommand:
        raise Error(CONFLICT, NOT_A_SWARM)
