"""The engine's nodes (admins): the swarm's machines, or the one local engine."""

from __future__ import annotations

from typing_extensions import TypedDict

from deploykit.node import JoinCommand, Node, NodeAvailability, NodeRole, NodeState


class NodeOut(TypedDict):
    id: str
    hostname: str
    role: NodeRole
    """``manager`` or ``worker`` on a swarm; ``standalone`` for a single Docker engine."""
    availability: NodeAvailability
    state: NodeState
    engine_version: str
    cpus: float
    memory_bytes: int
    running_tasks: int
    """Swarm tasks (or, standalone, containers) running on the node now."""
    address: str
    leader: bool
    message: str


class NodeList(TypedDict):
    data: list[NodeOut]
    total_count: int


class JoinCommandOut(TypedDict):
    token: str
    manager_address: str
    command: str
    """Run on the new machine (Docker installed, the manager's address reachable) to join it as a worker."""


def node_out(n: Node) -> NodeOut:
    return {
        "id": n.id,
        "hostname": n.hostname,
        "role": n.role,
        "availability": n.availability,
        "state": n.state,
        "engine_version": n.engine_version,
        "cpus": n.cpus,
        "memory_bytes": n.memory_bytes,
        "running_tasks": n.running_tasks,
        "address": n.address,
        "leader": n.leader,
        "message": n.message,
    }


def join_command_out(j: JoinCommand) -> JoinCommandOut:
    return {"token": j.token, "manager_address": j.manager_address, "command": j.command}
