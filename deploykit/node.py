"""The machines services run on: one Docker engine, or the nodes of a Docker Swarm.

With the plain Docker runtime there is one node, the local engine (role ``standalone``), so the
admin page and ``GET /api/nodes`` read the same on one machine as on a cluster. On a swarm an admin
drains a node (its tasks are rescheduled on the others and it gets no new ones) before taking it
down, activates it again after, and reads the command that joins a new machine as a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class NodeRole(StrEnum):
    MANAGER = "manager"
    WORKER = "worker"
    STANDALONE = "standalone"
    """A single Docker engine, not part of a swarm."""


class NodeAvailability(StrEnum):
    ACTIVE = "active"
    PAUSE = "pause"
    """Keeps its tasks, gets no new ones (set outside DeployKit)."""
    DRAIN = "drain"
    """Its tasks are moved to other nodes and it gets no new ones."""


class NodeState(StrEnum):
    READY = "ready"
    DOWN = "down"
    DISCONNECTED = "disconnected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    role: NodeRole
    availability: NodeAvailability
    state: NodeState
    engine_version: str
    cpus: float
    """Logical CPUs the node offers."""
    memory_bytes: int
    running_tasks: int
    """Tasks (swarm) or containers (standalone) running on it now."""
    address: str
    """The address the node is reached at (its swarm address; empty when the engine does not say)."""
    leader: bool = False
    """The manager that leads the swarm's Raft group."""
    message: str = ""
    """Why the node is not ready, when the engine says (e.g. ``heartbeat failure``)."""


@dataclass(frozen=True)
class JoinCommand:
    token: str
    manager_address: str
    """``host:port`` of a manager, the swarm's control port (2377 by default)."""

    @property
    def command(self) -> str:
        """What to run on the new machine, which needs Docker installed and this address reachable."""
        return f"docker swarm join --token {self.token} {self.manager_address}"


class NodeService(Protocol):
    async def list_nodes(self) -> list[Node]:
        """Every node, managers first then by hostname. Raises ``unavailable``."""
        ...

    async def set_availability(self, id: str, availability: NodeAvailability) -> Node:
        """Drain or activate a node and answer it as it is now. Raises ``not_found`` (no such
        node), ``conflict`` (not a swarm: a standalone engine cannot be drained), ``unavailable``."""
        ...

    async def join_command(self) -> JoinCommand:
        """The command that joins a new machine to the swarm as a worker. Raises ``conflict``
        (not a swarm), ``unavailable``."""
        ...
