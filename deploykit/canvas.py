"""The project canvas: positioned nodes (services, groups, notes, labels) and edges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class NodeType(StrEnum):
    SERVICE = "service"
    GROUP = "group"
    NOTE = "note"
    LABEL = "label"


class EdgeType(StrEnum):
    ENV_REF = "env_ref"
    """Managed: kept in sync with ``${{name...}}`` references; users cannot edit it."""
    USER = "user"


@dataclass
class CanvasNode:
    """A node. A service node's ``id`` is the service's id (or its temp id while staged)."""

    id: str
    project_id: str
    type: NodeType
    position_x: float = 0.0
    position_y: float = 0.0
    width: float | None = None
    height: float | None = None
    parent_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class CanvasEdge:
    id: str
    project_id: str
    source: str
    target: str
    type: EdgeType = EdgeType.USER
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def managed(self) -> bool:
        return self.type == EdgeType.ENV_REF


@dataclass(frozen=True)
class NodePosition:
    id: str
    position_x: float
    position_y: float


class CanvasService(Protocol):
    async def list_nodes(self, project_id: str) -> list[CanvasNode]:
        """Parents before their children (React Flow needs that order)."""
        ...

    async def get_node(self, project_id: str, id: str) -> CanvasNode:
        """Raises ``not_found``."""
        ...

    async def upsert_node(self, node: CanvasNode) -> CanvasNode:
        """Raises ``invalid`` (unknown parent, a parent that is not a group, a cycle),
        ``not_found`` (unknown project)."""
        ...

    async def delete_node(self, project_id: str, id: str) -> None:
        """Children of a deleted group move to its parent. Raises ``not_found``."""
        ...

    async def move_nodes(self, project_id: str, positions: list[NodePosition]) -> list[NodePosition]:
        """Batch position update in one transaction; unknown ids are skipped and not returned."""
        ...

    async def list_edges(self, project_id: str) -> list[CanvasEdge]: ...

    async def upsert_edge(self, edge: CanvasEdge) -> CanvasEdge:
        """User edges only. Raises ``invalid`` (managed edge, unknown node)."""
        ...

    async def delete_edge(self, project_id: str, id: str) -> None:
        """Raises ``not_found``, ``invalid`` (managed edge)."""
        ...
