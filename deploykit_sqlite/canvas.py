"""CanvasService on SQLite: nodes (parents first), edges, and the managed env-reference edges.

A node or user edge written or deleted through the service is published (``node.upserted``,
``node.deleted``, ``edge.upserted``, ``edge.deleted``) after commit, for the canvas rooms; moves
are not (the hub that writes them behind has already told the room).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from deploykit.bus import Event, EventType
from deploykit.canvas import CanvasEdge, CanvasNode, EdgeType, NodePosition, NodeType
from deploykit.errors import INVALID, Error, ValidationError, not_found
from deploykit_sqlite.db import DB, Tx, dumps, from_text, to_text
from deploykit_sqlite.envvar import project_env, resolve_for_service
from deploykit_sqlite.service import project_services

MANAGED_EDGE = "Managed env-reference edges cannot be edited."


def row_to_node(row: sqlite3.Row) -> CanvasNode:
    return CanvasNode(
        id=row["id"],
        project_id=row["project_id"],
        type=NodeType(row["type"]),
        position_x=float(row["position_x"]),
        position_y=float(row["position_y"]),
        width=row["width"],
        height=row["height"],
        parent_id=row["parent_id"],
        data=json.loads(row["data"]),
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


def row_to_edge(row: sqlite3.Row) -> CanvasEdge:
    return CanvasEdge(
        id=row["id"],
        project_id=row["project_id"],
        source=row["source"],
        target=row["target"],
        type=EdgeType(row["type"]),
        data=json.loads(row["data"]),
        created_at=from_text(row["created_at"]),
    )


def env_edge_id(source: str, target: str) -> str:
    return f"env:{source}:{target}"


async def find_node(tx: Tx, project_id: str, id: str) -> CanvasNode | None:
    row = await tx.fetchone("SELECT * FROM canvas_nodes WHERE project_id = ? AND id = ?", (project_id, id))
    return None if row is None else row_to_node(row)


async def absolute_position(tx: Tx, project_id: str, id: str | None) -> tuple[float, float]:
    """Where node ``id`` is on the canvas (its position is relative to its group's); the origin
    for None or an unknown node."""
    x = y = 0.0
    seen: set[str] = set()
    while id is not None and id not in seen:
        seen.add(id)
        node = await find_node(tx, project_id, id)
        if node is None:
            break
        x, y, id = x + node.position_x, y + node.position_y, node.parent_id
    return x, y


async def load_node(tx: Tx, project_id: str, id: str) -> CanvasNode:
    node = await find_node(tx, project_id, id)
    if node is None:
        raise not_found("Node")
    return node


async def check_group(tx: Tx, project_id: str, group_id: str | None, field: str = "parent_id") -> None:
    """Raises ``invalid`` unless ``group_id`` is None or a group node of the project."""
    if group_id is None:
        return
    parent = await find_node(tx, project_id, group_id)
    if parent is None or parent.type != NodeType.GROUP:
        raise ValidationError({field: ["must be a group node of this project"]})


async def save_node(tx: Tx, node: CanvasNode) -> CanvasNode:
    """Insert or replace a node after checking its parent. Raises ``invalid``, ``not_found``."""
    if node.parent_id is not None:
        if node.parent_id == node.id:
            raise ValidationError({"parent_id": ["must not be the node itself"]})
        await check_group(tx, node.project_id, node.parent_id)
        ancestor: str | None = node.parent_id
        while ancestor is not None:
            if ancestor == node.id:
                raise ValidationError({"parent_id": ["would make a cycle"]})
            ancestor = await tx.scalar(
                "SELECT parent_id FROM canvas_nodes WHERE project_id = ? AND id = ?", (node.project_id, ancestor)
            )
    now = to_text(tx.now())
    await tx.execute(
        "INSERT INTO canvas_nodes (project_id, id, type, position_x, position_y, width, height, parent_id, data, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (project_id, id) DO UPDATE SET type = excluded.type, position_x = excluded.position_x, "
        "position_y = excluded.position_y, width = excluded.width, height = excluded.height, "
        "parent_id = excluded.parent_id, data = excluded.data, updated_at = excluded.updated_at",
        (
            node.project_id,
            node.id,
            NodeType(node.type).value,
            float(node.position_x),
            float(node.position_y),
            node.width,
            node.height,
            node.parent_id,
            dumps(node.data),
            now,
            now,
        ),
        missing=not_found("Project"),
    )
    return await load_node(tx, node.project_id, node.id)


async def remove_node(tx: Tx, project_id: str, id: str) -> bool:
    """Delete a node and its edges; its children move to its parent. False when it did not exist.

    A deleted group takes its env vars with it, and its services join the parent group (their
    next deployment gets the env of where they now are)."""
    node = await find_node(tx, project_id, id)
    if node is None:
        return False
    await tx.execute(
        "UPDATE canvas_nodes SET parent_id = ? WHERE project_id = ? AND parent_id = ?", (node.parent_id, project_id, id)
    )
    if node.type == NodeType.GROUP:
        await tx.execute(
            "UPDATE services SET group_id = ? WHERE project_id = ? AND group_id = ?", (node.parent_id, project_id, id)
        )
        await tx.execute(
            "DELETE FROM env_vars WHERE project_id = ? AND scope = 'group' AND scope_id = ?", (project_id, id)
        )
    await tx.execute(
        "DELETE FROM canvas_edges WHERE project_id = ? AND (source = ? OR target = ?)", (project_id, id, id)
    )
    await tx.execute("DELETE FROM canvas_nodes WHERE project_id = ? AND id = ?", (project_id, id))
    return True


async def rekey_node(tx: Tx, project_id: str, old: str, new: str, data: dict[str, Any]) -> None:
    """A staged service's node becomes the applied service's node (its id becomes the real id)."""
    await tx.execute(
        "UPDATE canvas_nodes SET id = ?, data = ?, updated_at = ? WHERE project_id = ? AND id = ?",
        (new, dumps(data), to_text(tx.now()), project_id, old),
    )
    await tx.execute("UPDATE canvas_edges SET source = ? WHERE project_id = ? AND source = ?", (new, project_id, old))
    await tx.execute("UPDATE canvas_edges SET target = ? WHERE project_id = ? AND target = ?", (new, project_id, old))


async def sync_env_edges(tx: Tx, project_id: str) -> None:
    """Make the managed edges match the ``${{name...}}`` references: one edge from each service
    to every service its env refers to (both must have nodes)."""
    services = await project_services(tx, project_id)
    by_name = {s.name: s.id for s in services}
    env_of = await project_env(tx, project_id, services)
    rows = await tx.fetchall("SELECT id FROM canvas_nodes WHERE project_id = ?", (project_id,))
    nodes = {r["id"] for r in rows}
    wanted: dict[str, tuple[str, str, list[str]]] = {}
    for service in services:
        resolved = await resolve_for_service(tx, service, env_of)
        targets: dict[str, list[str]] = {}
        for key, names in sorted(resolved.references.items()):
            for name in names:
                target = by_name.get(name)
                if target is not None and target != service.id:
                    targets.setdefault(target, []).append(key)
        for target, keys in targets.items():
            if service.id in nodes and target in nodes:
                wanted[env_edge_id(service.id, target)] = (service.id, target, keys)
    existing = await tx.fetchall(
        "SELECT * FROM canvas_edges WHERE project_id = ? AND type = ?", (project_id, EdgeType.ENV_REF.value)
    )
    for row in existing:
        if row["id"] not in wanted:
            await tx.execute("DELETE FROM canvas_edges WHERE project_id = ? AND id = ?", (project_id, row["id"]))
    now = to_text(tx.now())
    for id, (source, target, keys) in wanted.items():
        await tx.execute(
            "INSERT INTO canvas_edges (project_id, id, source, target, type, data, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, id) DO UPDATE SET data = excluded.data",
            (project_id, id, source, target, EdgeType.ENV_REF.value, dumps({"keys": keys}), now),
        )


def parents_first(nodes: list[CanvasNode]) -> list[CanvasNode]:
    """Roots, then their children, breadth first; a node whose parent is missing counts as a root."""
    ids = {n.id for n in nodes}
    children: dict[str | None, list[CanvasNode]] = {}
    for node in nodes:
        parent = node.parent_id if node.parent_id in ids else None
        children.setdefault(parent, []).append(node)
    out: list[CanvasNode] = []
    queue = list(children.get(None, []))
    seen: set[str] = set()
    while queue:
        node = queue.pop(0)
        if node.id in seen:
            continue
        seen.add(node.id)
        out.append(node)
        queue.extend(children.get(node.id, []))
    out.extend(n for n in nodes if n.id not in seen)  # only reachable through a cycle; never lose a node
    return out


class CanvasStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    async def list_nodes(self, project_id: str) -> list[CanvasNode]:
        async with self.db.read() as tx:
            rows = await tx.fetchall(
                "SELECT * FROM canvas_nodes WHERE project_id = ? ORDER BY created_at, id", (project_id,)
            )
        return parents_first([row_to_node(r) for r in rows])

    async def get_node(self, project_id: str, id: str) -> CanvasNode:
        async with self.db.read() as tx:
            return await load_node(tx, project_id, id)

    async def upsert_node(self, node: CanvasNode) -> CanvasNode:
        async with self.db.tx() as tx:
            if await tx.scalar("SELECT 1 FROM projects WHERE id = ?", (node.project_id,)) is None:
                raise not_found("Project")
            saved = await save_node(tx, node)
            tx.publish(Event(EventType.NODE_UPSERTED, project_id=node.project_id, payload={"node": saved}, at=tx.now()))
            return saved

    async def delete_node(self, project_id: str, id: str) -> None:
        async with self.db.tx() as tx:
            if not await remove_node(tx, project_id, id):
                raise not_found("Node")
            tx.publish(Event(EventType.NODE_DELETED, project_id=project_id, payload={"id": id}, at=tx.now()))

    async def move_nodes(self, project_id: str, positions: list[NodePosition]) -> list[NodePosition]:
        moved: list[NodePosition] = []
        async with self.db.tx() as tx:
            now = to_text(tx.now())
            for pos in positions:
                changed = await tx.execute(
                    "UPDATE canvas_nodes SET position_x = ?, position_y = ?, updated_at = ? "
                    "WHERE project_id = ? AND id = ?",
                    (float(pos.position_x), float(pos.position_y), now, project_id, pos.id),
                )
                if changed:
                    moved.append(pos)
        return moved

    async def list_edges(self, project_id: str) -> list[CanvasEdge]:
        async with self.db.read() as tx:
            rows = await tx.fetchall(
                "SELECT * FROM canvas_edges WHERE project_id = ? ORDER BY created_at, id", (project_id,)
            )
        return [row_to_edge(r) for r in rows]

    async def upsert_edge(self, edge: CanvasEdge) -> CanvasEdge:
        if edge.type != EdgeType.USER:
            raise Error(INVALID, MANAGED_EDGE)
        async with self.db.tx() as tx:
            existing = await tx.fetchone(
                "SELECT type FROM canvas_edges WHERE project_id = ? AND id = ?", (edge.project_id, edge.id)
            )
            if existing is not None and existing["type"] != EdgeType.USER.value:
                raise Error(INVALID, MANAGED_EDGE)
            for end in (edge.source, edge.target):
                if await find_node(tx, edge.project_id, end) is None:
                    raise Error(INVALID, "An edge must join two nodes of this project.")
            id = edge.id or str(uuid.uuid4())
            await tx.execute(
                "INSERT INTO canvas_edges (project_id, id, source, target, type, data, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, id) DO UPDATE SET source = excluded.source, "
                "target = excluded.target, data = excluded.data",
                (
                    edge.project_id,
                    id,
                    edge.source,
                    edge.target,
                    EdgeType.USER.value,
                    dumps(edge.data),
                    to_text(tx.now()),
                ),
            )
            row = await tx.fetchone("SELECT * FROM canvas_edges WHERE project_id = ? AND id = ?", (edge.project_id, id))
            assert row is not None
            saved = row_to_edge(row)
            tx.publish(Event(EventType.EDGE_UPSERTED, project_id=edge.project_id, payload={"edge": saved}, at=tx.now()))
            return saved

    async def delete_edge(self, project_id: str, id: str) -> None:
        async with self.db.tx() as tx:
            row = await tx.fetchone("SELECT type FROM canvas_edges WHERE project_id = ? AND id = ?", (project_id, id))
            if row is None:
                raise not_found("Edge")
            if row["type"] != EdgeType.USER.value:
                raise Error(INVALID, MANAGED_EDGE)
            await tx.execute("DELETE FROM canvas_edges WHERE project_id = ? AND id = ?", (project_id, id))
            tx.publish(Event(EventType.EDGE_DELETED, project_id=project_id, payload={"id": id}, at=tx.now()))
