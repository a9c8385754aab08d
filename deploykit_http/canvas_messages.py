"""The client half of the canvas protocol: what each message a browser sends does.

Reads and writes go to the store through the collaborators, and staging through the domain's
``StagingService``; what they change reaches every room from the event bus, after commit. What
is never stored goes out through the ``Outbox`` at once: cursors, drafts, moves written behind,
and the reply to the client that asked.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from typing import Any, Protocol

from deploykit.canvas import CanvasEdge, CanvasNode, EdgeType, NodePosition, NodeType
from deploykit.errors import INVALID, NOT_FOUND, Error
from deploykit.pending_change import ChangeKind, PendingChangeCreate
from deploykit.plan import parse_origin
from deploykit.service import ServiceConfig
from deploykit.staging import ServiceStage, staged_creation
from deploykit_http.context import Collaborators, HTTPSettings
from deploykit_http.drafts import end_draft, start_draft
from deploykit_http.rooms import Client, Room, encode
from deploykit_http.shapes.staging import node_out, pending_change_out
from deploykit_http.staging import stage_service_create


class Outbox(Protocol):
    """The hub's sending side, as the messages need it."""

    def broadcast(self, project_id: str, type: str, payload: dict[str, Any], exclude: Client | None = None) -> None: ...

    def queue(self, client: Client, text: str) -> None: ...

    def record_moves(self, project_id: str, positions: list[NodePosition]) -> None: ...

    async def flush_positions(self) -> None: ...


class CanvasMessages:
    def __init__(self, hub: Outbox, c: Collaborators, settings: HTTPSettings) -> None:
        self.hub = hub
        self._c = c
        self._settings = settings

    async def dispatch(self, client: Client, room: Room, type: str, p: dict[str, Any]) -> None:
        pid = client.project_id
        canvas = self._c.canvas
        if type == "cursor:move":
            x, y = number(p.get("x", 0)), number(p.get("y", 0))
            payload = {"user_id": client.user_id, "user_name": client.identity.user.name, "x": x, "y": y}
            self.hub.broadcast(pid, "cursor:updated", payload, exclude=client)
        elif type == "node:move":
            positions = [
                NodePosition(id=str(q["id"]), position_x=number(q["position_x"]), position_y=number(q["position_y"]))
                for q in p.get("positions") or []
            ]
            # Others see the move at once; the store gets the latest position of each node
            # written behind (a drag sends dozens of moves a second, one write per flush suffices).
            out = [{"id": q.id, "position_x": q.position_x, "position_y": q.position_y} for q in positions]
            self.hub.broadcast(pid, "node:moved", {"positions": out, "user_id": client.user_id}, exclude=client)
            self.hub.record_moves(pid, positions)
        elif type == "node:upsert":
            await self._upsert_node(client, p)
        elif type == "node:delete":
            await self._delete_node(client, str(p.get("id", "")))
        elif type == "edge:upsert":
            await canvas.upsert_edge(
                CanvasEdge(
                    id=str(p.get("id") or uuid.uuid4()),
                    project_id=pid,
                    source=str(p.get("source", "")),
                    target=str(p.get("target", "")),
                    type=EdgeType.USER,
                    data=dict(p.get("data") or {}),
                )
            )
        elif type == "edge:delete":
            await canvas.delete_edge(pid, str(p.get("id", "")))
        elif type == "service:draft-start":
            self.hub.broadcast(pid, "service:drafting", start_draft(room, client, p), exclude=client)
        elif type == "service:draft-cancel":
            draft_id = str(p.get("draft_id", ""))
            if end_draft(room, client, draft_id):
                self.hub.broadcast(pid, "service:draft-cancelled", {"draft_id": draft_id}, exclude=client)
        elif type == "service:create":
            await self._create_service(client, room, p)
        elif type == "auth":
            pass  # a client re-sending its token is harmless
        else:
            raise Error(INVALID, f"Unknown message type '{type}'.")

    async def _upsert_node(self, client: Client, p: dict[str, Any]) -> None:
        pid = client.project_id
        node_id = str(p.get("id") or uuid.uuid4())
        origin = parse_origin(p.get("origin"))
        # The moves of a drag are written behind; an upsert that ends the drag (joining a group,
        # in the group's coordinates) must not be overwritten by them afterwards.
        await self.hub.flush_positions()
        try:
            existing: CanvasNode | None = await self._c.canvas.get_node(pid, node_id)
        except Error as exc:
            if exc.code != NOT_FOUND:
                raise
            existing = None
        try:
            node_type = NodeType(p.get("type") or (existing.type if existing else "note"))
        except ValueError:
            raise Error(INVALID, "type: must be service, group, note or label") from None
        if node_type == NodeType.SERVICE and existing is None:
            raise Error(INVALID, "Service nodes are created with service:create.")
        if existing is not None and (existing.type == NodeType.SERVICE) != (node_type == NodeType.SERVICE):
            # A service's node turned group could be deleted without staging the service's deletion.
            raise Error(INVALID, "A node cannot become a service node or stop being one.")
        base = existing or CanvasNode(id=node_id, project_id=pid, type=node_type)
        node = CanvasNode(
            id=node_id,
            project_id=pid,
            type=node_type,
            position_x=number(p.get("position_x", base.position_x)),
            position_y=number(p.get("position_y", base.position_y)),
            width=_opt_float(p.get("width", base.width)),
            height=_opt_float(p.get("height", base.height)),
            parent_id=p.get("parent_id", base.parent_id),
            data=dict(p["data"]) if isinstance(p.get("data"), dict) else dict(base.data),
        )
        saved = await self._c.canvas.upsert_node(node)
        if node_type == NodeType.SERVICE and existing is not None and existing.parent_id != saved.parent_id:
            # Where the node was, to put it back if the move is discarded: as the client saw it
            # when the drag began, else as stored (the last position written behind).
            if origin is None:
                origin = {"parent_id": existing.parent_id, "x": existing.position_x, "y": existing.position_y}
            await self._stage_move(client, saved, origin)

    async def _stage_move(self, client: Client, node: CanvasNode, origin: dict[str, Any]) -> None:
        """Moving an applied service into or out of a group changes which env it gets: staged."""
        try:
            await self._c.services.get_service(node.id)
        except Error as exc:
            if exc.code == NOT_FOUND:
                return  # a staged service: its create carries the group
            raise
        await self._c.pending_changes.append_pending_change(
            PendingChangeCreate(
                project_id=client.project_id,
                kind=ChangeKind.SERVICE_MOVE,
                payload={"group_id": node.parent_id, "origin": origin},
                target_id=node.id,
                created_by=client.user_id,
            )
        )

    async def _delete_node(self, client: Client, node_id: str) -> None:
        pid = client.project_id
        node = await self._c.canvas.get_node(pid, node_id)
        if node.type == NodeType.SERVICE:
            try:
                svc = await self._c.services.get_service(node_id)
            except Error as exc:
                if exc.code != NOT_FOUND:
                    raise
            else:
                await self._c.pending_changes.append_pending_change(
                    PendingChangeCreate(
                        project_id=pid,
                        kind=ChangeKind.SERVICE_DELETE,
                        payload={"name": svc.name},
                        target_id=svc.id,
                        created_by=client.user_id,
                    )
                )
                return
            # A staged service: deleting its node discards its creation.
            create = staged_creation(await self._c.pending_changes.list_pending_changes(pid), node_id)
            if create is not None:
                await self._c.pending_changes.discard_pending_changes(pid, create.id)
        with contextlib.suppress(Error):  # a discarded creation took its node along
            await self._c.canvas.delete_node(pid, node_id)

    async def _create_service(self, client: Client, room: Room, p: dict[str, Any]) -> None:
        draft_id = str(p.get("draft_id") or "")
        data = {k: v for k, v in p.items() if k not in ("draft_id", "name", "env_vars", "x", "y", "group_id", "public")}
        try:
            config = ServiceConfig.from_dict(data)
        except (TypeError, ValueError):
            raise Error(INVALID, "The service is malformed: check port, replicas and resources.") from None
        staged = await stage_service_create(
            self._c.pending_changes,
            self._settings,
            ServiceStage(
                project_id=client.project_id,
                name=str(p.get("name") or ""),
                config=config,
                group_id=p.get("group_id"),
                position=(number(p.get("x") or 0), number(p.get("y") or 0)),
                env=env_map(p.get("env_vars")),
                public=p.get("public") is not False,
                created_by=client.user_id,
            ),
        )
        self.hub.queue(
            client,
            encode(
                "service:created",
                {
                    "draft_id": draft_id,
                    "temp_id": staged.temp_id,
                    "change": pending_change_out(staged.change),
                    "node": node_out(staged.node) if staged.node else None,
                },
            ),
        )
        if draft_id and end_draft(room, client, draft_id):
            self.hub.broadcast(client.project_id, "service:draft-cancelled", {"draft_id": draft_id}, exclude=client)


def env_map(value: Any) -> dict[str, str]:
    """``env_vars`` as ``{KEY: value}`` or ``[{key, value}]``."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(i.get("key", "")): str(i.get("value", "")) for i in value if isinstance(i, dict)}
    return {}


def number(value: Any) -> float:
    """A finite float: NaN or infinity (``"Infinity"`` parses) would be stored and then break
    every ``canvas:state`` in the browser, whose JSON has no such values. Raises ValueError."""
    out = float(value)
    if not math.isfinite(out):
        raise ValueError("not a finite number")
    return out


def _opt_float(value: Any) -> float | None:
    return None if value is None else number(value)
