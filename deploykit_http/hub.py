"""The canvas hub: one room per project, the WebSocket protocol of API.md, presence and drafts.

Each client gets a bounded send queue drained by its own writer task, so that a slow client never
blocks the room: when its queue is full it is disconnected (close 1008) and can reconnect to a fresh
``canvas:state``. Messages to a room are serialized once and the same text is queued for everyone.

Sockets are bound to the session (or API key) that authenticated them: logging out, deleting the
user or the key closes them at once with 4001, and a periodic check closes those whose session
expired or was ended behind the server's back. What each client message does is in
``canvas_messages.py``; rooms and framing in ``rooms.py``.

Everything stored that changes a project (services, deployments, containers, staged changes, canvas
nodes and edges, an apply) reaches the room the same way: the store publishes an event after commit
and the hub, subscribed to the bus, turns it into a message. Nobody calls the hub to say that
something changed; what the hub broadcasts directly is only what is never stored (cursors, drafts,
presence) or written behind (node moves).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from deploykit.bus import Event, EventType, Subscription
from deploykit.canvas import NodePosition
from deploykit.clock import wait_event
from deploykit.errors import NOT_FOUND, Error, ValidationError, error_code, error_message
from deploykit_http.canvas_messages import CanvasMessages
from deploykit_http.context import Collaborators, HTTPSettings
from deploykit_http.drafts import release_drafts
from deploykit_http.identity import Identities
from deploykit_http.jsonin import parse_json
from deploykit_http.rooms import Client, Room, encode, state_payload
from deploykit_http.shapes.staging import edge_out, node_out, pending_change_out

log = logging.getLogger("deploykit_http.hub")

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_UNAUTHORIZED = 4001
CLOSE_NOT_FOUND = 4004
MAX_MESSAGE = 256 * 1024


# Bus events the room hears, and the message type each becomes.
EVENT_MESSAGES: dict[EventType, str] = {
    EventType.SERVICE_CREATED: "service:upserted",
    EventType.SERVICE_UPDATED: "service:upserted",
    EventType.SERVICE_DELETED: "service:deleted",
    EventType.SERVICE_STATUS_CHANGED: "service:status-changed",
    EventType.DEPLOYMENT_CREATED: "deployment:created",
    EventType.DEPLOYMENT_BUILDING: "deployment:building",
    EventType.DEPLOYMENT_STARTING: "deployment:starting",
    EventType.DEPLOYMENT_HEALTHY: "deployment:healthy",
    EventType.DEPLOYMENT_FAILED: "deployment:failed",
    EventType.DEPLOYMENT_CANCELLED: "deployment:cancelled",
    EventType.CONTAINER_CREATED: "container:created",
    EventType.CONTAINER_DELETED: "container:deleted",
}


def event_message(event: Event) -> tuple[str, Mapping[str, Any]] | None:
    """The room message an event becomes, or None for events the room does not hear."""
    p = event.payload
    if event.type == EventType.PENDING_CHANGE_ADDED:
        return "pending-change:added", pending_change_out(p["change"])
    if event.type == EventType.PENDING_CHANGES_REMOVED:
        return "pending-changes:removed", {"ids": list(p["ids"])}
    if event.type == EventType.PENDING_CHANGES_CLEARED:
        return "pending-changes:cleared", {}
    if event.type == EventType.CHANGES_APPLIED:
        return "pending-changes:applied", {k: v for k, v in p.items() if k != "changes"}  # the diff: audit only
    if event.type == EventType.NODE_UPSERTED:
        return "node:upserted", node_out(p["node"])
    if event.type == EventType.NODE_DELETED:
        return "node:deleted", {"id": p["id"]}
    if event.type == EventType.EDGE_UPSERTED:
        return "edge:upserted", edge_out(p["edge"])
    if event.type == EventType.EDGE_DELETED:
        return "edge:deleted", {"id": p["id"]}
    type = EVENT_MESSAGES.get(event.type)
    if type is None:
        return None
    payload = dict(p)
    if event.service_id is not None:
        payload.setdefault("service_id", event.service_id)
    payload.setdefault("project_id", event.project_id)
    return type, payload


class CanvasHub:
    def __init__(self, c: Collaborators, settings: HTTPSettings, identities: Identities) -> None:
        self._c = c
        self._settings = settings
        self._identities = identities
        self.rooms: dict[str, Room] = {}
        self.shutdown_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.disconnected_slow = 0
        self._closers: set[asyncio.Task[None]] = set()
        self._positions: dict[str, dict[str, NodePosition]] = {}
        """Moves not yet written to the store: project -> node -> latest position."""
        self._positions_wanted = asyncio.Event()
        self._positions_written = asyncio.Lock()
        """Held while moves are written: a flush waits for one under way (order is kept)."""
        self.messages = CanvasMessages(self, c, settings)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.shutdown_event = asyncio.Event()
        self._tasks = [
            # Subscribed now, not when the task first runs: no event after start() is missed.
            asyncio.create_task(self._consume_bus(self._c.bus.subscribe(maxsize=10_000)), name="canvas-hub-bus"),
            asyncio.create_task(self._check_sessions(), name="canvas-hub-sessions"),
            asyncio.create_task(self._write_positions(), name="canvas-hub-positions"),
        ]

    async def stop(self) -> None:
        """Close every socket with 1001 and stop the background tasks."""
        self.shutdown_event.set()
        await self._close_where(lambda c: True, CLOSE_GOING_AWAY, "Server shutting down.")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush_positions()
        await asyncio.gather(*self._closers, return_exceptions=True)
        self._tasks = []

    @property
    def client_count(self) -> int:
        return sum(len(r.clients) for r in self.rooms.values())

    # --- the socket -----------------------------------------------------------------------------

    def origin_allowed(self, origin: str | None) -> bool:
        allowed = self._settings.cors_origins
        return origin is None or "*" in allowed or origin in allowed

    async def serve(self, ws: WebSocket) -> None:
        project_id = ws.path_params["project_id"]
        if not self.origin_allowed(ws.headers.get("origin")):
            await ws.close(code=CLOSE_POLICY, reason="Origin not allowed.")
            return
        await ws.accept()
        client = await self._authenticate(ws, project_id)
        if client is None:
            return
        room = self.rooms.setdefault(project_id, Room(project_id))
        first_of_user = not room.has_user(client.user_id)
        room.clients.add(client)
        client.writer = asyncio.create_task(self._write(client), name=f"canvas-writer-{client.id[:8]}")
        try:
            await self._send_state(client, room)
            if first_of_user:
                self.broadcast(project_id, "user:joined", client.presence, exclude=client)
            await self._read(client, room)
        finally:
            await self._leave(client, room)

    async def _authenticate(self, ws: WebSocket, project_id: str) -> Client | None:
        try:
            raw = await asyncio.wait_for(ws.receive_text(), self._settings.ws_auth_timeout_s)
            msg = json.loads(raw)
            token = msg["payload"]["token"] if msg.get("type") == "auth" else None
            if not isinstance(token, str) or not token:
                raise Error("unauthorized", "The first message must be auth with a token.")
            identity = await self._identities.identify(token)
        except WebSocketDisconnect:
            return None
        except Exception as exc:
            reason = "Authentication timed out." if isinstance(exc, TimeoutError) else "Authentication failed."
            await self._close_socket(ws, CLOSE_UNAUTHORIZED, reason)
            return None
        try:
            await self._c.projects.get_project(project_id)
        except Exception as exc:
            code = CLOSE_NOT_FOUND if error_code(exc) == NOT_FOUND else 1011
            await self._close_socket(ws, code, error_message(exc))
            return None
        return Client(
            ws=ws,
            project_id=project_id,
            identity=identity,
            token=token,
            queue=asyncio.Queue(maxsize=self._settings.ws_send_queue),
        )

    async def _send_state(self, client: Client, room: Room) -> None:
        pid = client.project_id
        state = await self._state(pid)
        changes = await self._c.pending_changes.list_pending_changes(pid)
        self.queue(client, encode("canvas:state", state))
        self.queue(client, encode("users:list", {"users": room.users()}))
        self.queue(client, encode("service:drafts", {"drafts": list(room.drafts.values())}))
        self.queue(client, encode("pending-changes:state", {"changes": [pending_change_out(c) for c in changes]}))

    async def _state(self, project_id: str) -> dict[str, Any]:
        nodes = await self._c.canvas.list_nodes(project_id)
        edges = await self._c.canvas.list_edges(project_id)
        for node in nodes:  # moves not yet written behind
            moved = self._positions.get(project_id, {}).get(node.id)
            if moved is not None:
                node.position_x, node.position_y = moved.position_x, moved.position_y
        return state_payload(nodes, edges)

    async def _read(self, client: Client, room: Room) -> None:
        while True:
            try:
                raw = await client.ws.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            if len(raw) > MAX_MESSAGE:
                await self._close(client, CLOSE_TOO_BIG, "Message too big.")
                return
            try:
                msg = parse_json(raw)
                type, payload = msg["type"], msg.get("payload") or {}
                if not isinstance(type, str) or not isinstance(payload, dict):
                    raise ValueError
            except ValidationError as exc:  # JSON that could be stored but never read back
                self.queue(client, encode("error", {"message": exc.message, "fields": exc.fields}))
                continue
            except (ValueError, KeyError, TypeError):
                self.queue(client, encode("error", {"message": "Messages are JSON {type, payload}."}))
                continue
            try:
                await self.messages.dispatch(client, room, type, payload)
            except (KeyError, TypeError, ValueError):
                # A field of the wrong shape from the browser, not a fault of ours.
                self.queue(client, encode("error", {"message": f"Malformed {type} message.", "type": type}))
            except Exception as exc:
                if error_code(exc) == "internal":
                    log.exception("canvas message %s failed", type)
                self.queue(client, encode("error", {"message": error_message(exc), "type": type}))

    async def _leave(self, client: Client, room: Room) -> None:
        room.clients.discard(client)
        if client.writer is not None:
            client.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await client.writer
        for draft_id in release_drafts(room, client):  # a closed tab's ghosts go with it
            self.broadcast(room.project_id, "service:draft-cancelled", {"draft_id": draft_id})
        if not room.has_user(client.user_id):
            self.broadcast(room.project_id, "user:left", client.presence)
        if not room.clients and self.rooms.get(room.project_id) is room:
            del self.rooms[room.project_id]
        await self._close_socket(client.ws, 1000, "")

    # --- sending --------------------------------------------------------------------------------

    async def _write(self, client: Client) -> None:
        try:
            while True:
                text = await client.queue.get()
                try:
                    await client.ws.send_text(text)
                finally:
                    client.queue.task_done()
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    def queue(self, client: Client, text: str) -> None:
        if client.closing:
            return
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.disconnected_slow += 1
            log.info("canvas client %s too slow; disconnecting", client.id[:8])
            client.closing = True
            task = asyncio.get_running_loop().create_task(self._close(client, CLOSE_POLICY, "Too slow; reconnect."))
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)

    def broadcast(self, project_id: str, type: str, payload: Mapping[str, Any], exclude: Client | None = None) -> None:
        room = self.rooms.get(project_id)
        if room is None:
            return
        text = encode(type, payload)
        for client in tuple(room.clients):
            if client is not exclude:
                self.queue(client, text)

    async def _close(self, client: Client, code: int, reason: str) -> None:
        client.closing = True
        if client.writer is not None and code != CLOSE_POLICY:
            # Let what is queued go out first (a final error, a 4001), but never wait long.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain(client), 1.0)
        if client.writer is not None:
            client.writer.cancel()
        await self._close_socket(client.ws, code, reason)

    @staticmethod
    async def _drain(client: Client) -> None:
        await client.queue.join()

    @staticmethod
    async def _close_socket(ws: WebSocket, code: int, reason: str) -> None:
        if ws.application_state == WebSocketState.DISCONNECTED or ws.client_state == WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)

    async def _close_where(self, match: Callable[[Client], bool], code: int, reason: str) -> None:
        clients = [c for r in self.rooms.values() for c in r.clients if match(c)]
        await asyncio.gather(*(self._close(c, code, reason) for c in clients), return_exceptions=True)

    # --- what the REST routes may ask --------------------------------------------------------

    async def close_room(self, project_id: str) -> None:
        await self._close_where(lambda c: c.project_id == project_id, CLOSE_NOT_FOUND, "Project deleted.")

    async def end_session(self, session_id: str) -> None:
        await self._close_where(lambda c: c.identity.session_id == session_id, CLOSE_UNAUTHORIZED, "Logged out.")

    async def end_user(self, user_id: str) -> None:
        await self._close_where(lambda c: c.user_id == user_id, CLOSE_UNAUTHORIZED, "Logged out.")

    async def end_user_sessions(self, user_id: str, *, except_session_id: str | None) -> None:
        """Close the user's sockets opened with a session other than ``except_session_id`` (those
        opened with an API key stay: the key still works)."""
        await self._close_where(
            lambda c: (
                c.user_id == user_id
                and c.identity.session_id is not None
                and c.identity.session_id != except_session_id
            ),
            CLOSE_UNAUTHORIZED,
            "Signed out: the password was changed.",
        )

    async def end_api_key(self, api_key_id: str) -> None:
        await self._close_where(lambda c: c.identity.api_key_id == api_key_id, CLOSE_UNAUTHORIZED, "Key deleted.")

    # --- background -----------------------------------------------------------------------------

    async def _consume_bus(self, sub: Subscription) -> None:
        try:
            async for event in sub:
                try:
                    await self._tell_room(event)
                except Exception:
                    log.exception("telling the canvas about %s failed", event.type)
        finally:
            sub.close()

    async def _tell_room(self, event: Event) -> None:
        """The one way a change reaches the canvas: the store published it after commit."""
        if event.type == EventType.PROJECT_DELETED and event.project_id:
            await self.close_room(event.project_id)
            return
        if event.project_id is None or event.project_id not in self.rooms:
            return
        msg = event_message(event)
        if msg is not None:
            self.broadcast(event.project_id, *msg)
        if event.type == EventType.CHANGES_APPLIED:
            # Staged nodes were re-keyed to real service ids: everyone resyncs.
            self.broadcast(event.project_id, "canvas:state", await self._state(event.project_id))

    def record_moves(self, project_id: str, positions: list[NodePosition]) -> None:
        """Keep the latest position of each moved node for the next write-behind flush."""
        pending = self._positions.setdefault(project_id, {})
        for q in positions:
            pending[q.id] = q
        self._positions_wanted.set()

    async def _write_positions(self) -> None:
        while True:
            await self._positions_wanted.wait()
            self._positions_wanted.clear()
            try:
                await self.flush_positions()
            except Exception:
                log.exception("writing canvas positions failed")
                await asyncio.sleep(1)

    async def flush_positions(self) -> None:
        """Write every pending move to the store (unknown nodes are skipped by the store); when
        this returns, every move recorded before the call is stored."""
        async with self._positions_written:
            pending, self._positions = self._positions, {}
            for project_id, by_node in pending.items():
                try:
                    await self._c.canvas.move_nodes(project_id, list(by_node.values()))
                except Error as exc:
                    if exc.code != NOT_FOUND:  # a project deleted meanwhile
                        raise

    async def _check_sessions(self) -> None:
        while not self.shutdown_event.is_set():
            await wait_event(self.shutdown_event, self._settings.ws_session_check_s)
            if self.shutdown_event.is_set():
                return
            try:
                await self.check_sessions()
            except Exception:
                log.exception("canvas session check failed")

    async def check_sessions(self) -> None:
        """Close sockets whose session expired or ended, or whose API key is gone."""
        now = self._c.clock.now()
        verdicts: dict[str, bool] = {}
        for client in [c for r in self.rooms.values() for c in r.clients]:
            ident = client.identity
            if ident.expires_at is not None and ident.expires_at <= now:
                ok = False
            elif ident.session_id is not None:
                if ident.session_id not in verdicts:
                    verdicts[ident.session_id] = await self._c.auth.session_active(ident.session_id)
                ok = verdicts[ident.session_id]
            else:
                try:
                    await self._c.auth.authenticate(client.token)
                    ok = True
                except Exception:
                    ok = False
            if not ok:
                await self._close(client, CLOSE_UNAUTHORIZED, "Session ended.")
