"""The canvas hub's rooms: who is connected to a project, and how messages are framed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from starlette.websockets import WebSocket

from deploykit.auth import Identity
from deploykit.canvas import CanvasEdge, CanvasNode
from deploykit_http.shapes.staging import edge_out, node_out


def encode(type: str, payload: Mapping[str, Any]) -> str:
    """Timestamps as the REST API writes them (UTC, ``Z``), enums as their values."""
    return pydantic_core.to_json({"type": type, "payload": payload}, fallback=str).decode()


@dataclass(eq=False)
class Client:
    ws: WebSocket
    project_id: str
    identity: Identity
    token: str
    queue: asyncio.Queue[str]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    writer: asyncio.Task[None] | None = None
    closing: bool = False

    @property
    def user_id(self) -> str:
        return self.identity.user.id

    @property
    def presence(self) -> dict[str, Any]:
        user = self.identity.user
        return {"user_id": user.id, "user_name": user.name, "email": user.email}


@dataclass(eq=False)
class Room:
    project_id: str
    clients: set[Client] = field(default_factory=set)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    draft_clients: dict[str, str] = field(default_factory=dict)
    """Draft id -> the id of the client that drafts it (see drafts.py)."""

    def users(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for c in self.clients:
            seen.setdefault(c.user_id, c.presence)
        return list(seen.values())

    def has_user(self, user_id: str, besides: Client | None = None) -> bool:
        return any(c.user_id == user_id and c is not besides for c in self.clients)


def state_payload(nodes: list[CanvasNode], edges: list[CanvasEdge]) -> dict[str, Any]:
    return {"nodes": [node_out(n) for n in nodes], "edges": [edge_out(e) for e in edges]}
