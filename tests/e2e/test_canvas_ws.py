"""The canvas WebSocket through the real daemon: two people on one project."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.e2e.support import Account, CanvasClient, Daemon, close_of, create_member, create_project, login


def deployed_service(admin: Account, project: str, name: str) -> tuple[str, str]:
    """A new project with one deployed service (its node at 40, 50): their ids."""
    pid = create_project(admin, project)["id"]
    with admin.client() as c:
        body = {"name": name, "source": {"type": "image", "image": "nginx"}, "position_x": 40, "position_y": 50}
        temp = c.post(f"/projects/{pid}/services", json=body).json()["target_temp_id"]
        sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]
    return pid, sid


async def test_two_clients_see_presence_cursors_moves_and_drafts(daemon: Daemon, admin: Account) -> None:
    bob = create_member(admin, "bob@example.com", "Bob")
    pid = create_project(admin, "Together")["id"]
    async with CanvasClient(daemon, pid, admin.token) as ada:
        assert [m["type"] for m in ada.received] == [
            "canvas:state",
            "users:list",
            "service:drafts",
            "pending-changes:state",
        ]
        assert ada.received[0]["payload"] == {"nodes": [], "edges": []}
        async with CanvasClient(daemon, pid, bob.token) as b:
            users = b.received[1]["payload"]["users"]
            assert {u["user_id"] for u in users} == {admin.user["id"], bob.user["id"]}
            joined = await ada.expect("user:joined")
            assert joined["user_id"] == bob.user["id"]
            assert joined["user_name"] == "Bob"

            await ada.send("cursor:move", {"x": 10.5, "y": -3})
            cursor = await b.expect("cursor:updated")
            assert cursor == {"user_id": admin.user["id"], "user_name": "Ada Admin", "x": 10.5, "y": -3.0}

            await ada.send(
                "node:upsert",
                {"id": "note-1", "type": "note", "position_x": 1, "position_y": 2, "data": {"text": "hello"}},
            )
            note = await b.expect("node:upserted", lambda p: p["id"] == "note-1")
            assert note["data"] == {"text": "hello"}
            await ada.expect("node:upserted", lambda p: p["id"] == "note-1")

            await b.send("node:move", {"positions": [{"id": "note-1", "position_x": 100, "position_y": 200}]})
            moved = await ada.expect("node:moved")
            assert moved == {
                "positions": [{"id": "note-1", "position_x": 100.0, "position_y": 200.0}],
                "user_id": bob.user["id"],
            }

            await b.send("service:draft-start", {"draft_id": "d1", "name": "cache", "x": 5, "y": 6})
            drafting = await ada.expect("service:drafting")
            assert drafting["draft_id"] == "d1"
            assert drafting["user_id"] == bob.user["id"]
            async with CanvasClient(daemon, pid, admin.token) as late:
                drafts = late.received[2]["payload"]["drafts"]
                assert [d["draft_id"] for d in drafts] == ["d1"]
            await b.send("service:draft-cancel", {"draft_id": "d1"})
            assert (await ada.expect("service:draft-cancelled")) == {"draft_id": "d1"}

            await b.send(
                "service:create",
                {
                    "draft_id": "d2",
                    "name": "cache",
                    "source": {"type": "image", "image": "redis:7"},
                    "port": 6379,
                    "env_vars": {"MAXMEM": "64mb"},
                    "x": 40,
                    "y": 50,
                },
            )
            created = await b.expect("service:created")
            temp_id = created["temp_id"]
            assert created["draft_id"] == "d2"
            node = await ada.expect("node:upserted", lambda p: p["id"] == temp_id)
            assert (node["position_x"], node["position_y"]) == (40.0, 50.0)
            change = await ada.expect("pending-change:added", lambda p: p["kind"] == "service.create")
            assert change["payload"]["env_vars"] == {"MAXMEM": "64mb"}

            with admin.client() as c:
                result = c.post(f"/projects/{pid}/deploy").json()
            applied = await b.expect("pending-changes:applied")
            assert applied["temp_id_to_service_id"] == result["temp_id_to_service_id"]
            state = await b.expect("canvas:state")
            assert result["temp_id_to_service_id"][temp_id] in {n["id"] for n in state["nodes"]}
            await b.expect("service:upserted")
        left = await ada.expect("user:left")
        assert left["user_id"] == bob.user["id"]


async def test_an_edge_drawn_or_removed_reaches_everyone_through_the_store(daemon: Daemon, admin: Account) -> None:
    pid = create_project(admin, "Edges")["id"]
    async with CanvasClient(daemon, pid, admin.token) as ada, CanvasClient(daemon, pid, admin.token) as again:
        await ada.send("node:upsert", {"id": "n1", "type": "note"})
        await ada.send("node:upsert", {"id": "n2", "type": "note"})
        await again.expect("node:upserted", lambda p: p["id"] == "n2")
        await ada.send("edge:upsert", {"id": "e1", "source": "n1", "target": "n2", "data": {"label": "calls"}})
        for ws in (ada, again):
            edge = await ws.expect("edge:upserted")
            assert (edge["id"], edge["source"], edge["target"], edge["data"]) == ("e1", "n1", "n2", {"label": "calls"})
        async with CanvasClient(daemon, pid, admin.token) as late:
            assert [e["id"] for e in late.received[0]["payload"]["edges"]] == ["e1"]
        await again.send("edge:delete", {"id": "e1"})
        for ws in (ada, again):
            assert (await ws.expect("edge:deleted")) == {"id": "e1"}


async def test_presence_is_deduplicated_per_user(daemon: Daemon, admin: Account) -> None:
    pid = create_project(admin, "Tabs")["id"]
    async with CanvasClient(daemon, pid, admin.token) as first:
        async with CanvasClient(daemon, pid, admin.token) as second:
            assert len(second.received[1]["payload"]["users"]) == 1
        # The same user's second tab closing is not the user leaving.
        await first.send("cursor:move", {"x": 0, "y": 0})
        await first.send("node:upsert", {"id": "n", "type": "label"})
        await first.expect("node:upserted")
        assert "user:left" not in [m["type"] for m in first.received]
        assert "user:joined" not in [m["type"] for m in first.received]


async def test_deleting_a_staged_service_node_discards_its_creation(daemon: Daemon, admin: Account) -> None:
    pid = create_project(admin, "Undo")["id"]
    async with CanvasClient(daemon, pid, admin.token) as ws:
        await ws.send("service:create", {"name": "tmp", "source": {"type": "image", "image": "nginx"}})
        temp_id = (await ws.expect("service:created"))["temp_id"]
        await ws.send("node:delete", {"id": temp_id})
        removed = await ws.expect("pending-changes:removed")
        assert len(removed["ids"]) == 1
        assert (await ws.expect("node:deleted")) == {"id": temp_id}
    with admin.client() as c:
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}


async def test_bad_messages_get_an_error_and_the_socket_stays_open(daemon: Daemon, admin: Account) -> None:
    pid = create_project(admin, "Errors")["id"]
    async with CanvasClient(daemon, pid, admin.token) as ws:
        await ws.ws.send("not json")
        assert (await ws.expect("error"))["message"] == "Messages are JSON {type, payload}."
        await ws.send("edge:delete", {"id": "nope"})
        assert (await ws.expect("error"))["type"] == "edge:delete"
        await ws.send("node:move", {"positions": [{"id": "x"}]})
        assert (await ws.expect("error"))["message"] == "Malformed node:move message."
        await ws.send("warp:drive", {})
        assert (await ws.expect("error"))["message"] == "Unknown message type 'warp:drive'."
        await ws.send("cursor:move", {"x": 1, "y": 1})
        await ws.send("node:upsert", {"id": "still-here", "type": "note"})
        await ws.expect("node:upserted")


async def test_logout_closes_that_sessions_sockets_with_4001(daemon: Daemon, admin: Account) -> None:
    pid = create_project(admin, "Logout")["id"]
    session = login(daemon, admin.email)
    other = login(daemon, admin.email)
    async with CanvasClient(daemon, pid, session.token) as ws, CanvasClient(daemon, pid, other.token) as stays:
        with session.client() as c:
            assert c.post("/auth/logout").status_code == 204
        assert await ws.closed_with() == 4001
        await stays.send("node:upsert", {"id": "alive", "type": "note"})
        await stays.expect("node:upserted", lambda p: p["id"] == "alive")


async def test_a_bad_token_or_no_auth_in_time_closes_with_4001(daemon: Daemon, admin: Account) -> None:
    pid = create_project(admin, "Gate")["id"]
    url = f"{daemon.ws_base}/api/projects/{pid}/canvas/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "payload": {"token": "wrong"}}))
        assert await close_of(ws) == (4001, "Authentication failed.")
    async with websockets.connect(url) as ws:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await close_of(ws, 10) == (4001, "Authentication timed out.")
        assert 4.5 <= loop.time() - started < 10


async def test_an_unknown_project_closes_with_4004(daemon: Daemon, admin: Account) -> None:
    url = f"{daemon.ws_base}/api/projects/00000000-0000-0000-0000-000000000000/canvas/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "payload": {"token": admin.token}}))
        assert await close_of(ws) == (4004, "Project not found.")


async def test_deleting_a_deployed_service_node_stages_its_deletion(daemon: Daemon, admin: Account) -> None:
    pid, sid = deployed_service(admin, "Staged delete", "keep")
    async with CanvasClient(daemon, pid, admin.token) as ws:
        await ws.send("node:delete", {"id": sid})
        change = await ws.expect("pending-change:added")
        assert (change["kind"], change["target_id"]) == ("service.delete", sid)
    with admin.client() as c:
        assert c.get(f"/projects/{pid}/services/{sid}").status_code == 200


async def test_a_discarded_move_puts_the_node_back_where_the_drag_began(daemon: Daemon, admin: Account) -> None:
    pid, sid = deployed_service(admin, "Discarded move", "api")
    async with CanvasClient(daemon, pid, admin.token) as ws:
        group = {"id": "g1", "type": "group", "position_x": 300, "position_y": 200, "width": 460, "height": 300}
        await ws.send("node:upsert", group)
        await ws.expect("node:upserted", lambda p: p["id"] == "g1")
        # A drag: moves written behind, then the drop that joins the group, in its coordinates.
        await ws.send("node:move", {"positions": [{"id": sid, "position_x": 330, "position_y": 240}]})
        drop = {"id": sid, "parent_id": "g1", "position_x": 30, "position_y": 40}
        await ws.send("node:upsert", {**drop, "origin": {"parent_id": None, "x": 40, "y": 50}})
        move = await ws.expect("pending-change:added", lambda p: p["kind"] == "service.move")
        assert move["payload"] == {"group_id": "g1", "origin": {"parent_id": None, "x": 40.0, "y": 50.0}}
    async with CanvasClient(daemon, pid, admin.token) as ws:
        [node] = [n for n in ws.received[0]["payload"]["nodes"] if n["id"] == sid]
        assert (node["parent_id"], node["position_x"], node["position_y"]) == ("g1", 30.0, 40.0)
        with admin.client() as c:
            assert c.delete(f"/projects/{pid}/pending-changes").status_code in (200, 204)
        back = await ws.expect("node:upserted", lambda p: p["id"] == sid)
        assert (back["parent_id"], back["position_x"], back["position_y"]) == (None, 40.0, 50.0)


async def test_a_malformed_move_origin_gets_an_error_and_nothing_changes(daemon: Daemon, admin: Account) -> None:
    pid, sid = deployed_service(admin, "Bad origin", "api")
    async with CanvasClient(daemon, pid, admin.token) as ws:
        await ws.send("node:upsert", {"id": "g1", "type": "group", "position_x": 300, "position_y": 200})
        await ws.expect("node:upserted", lambda p: p["id"] == "g1")
        await ws.send("node:upsert", {"id": sid, "parent_id": "g1", "origin": {"parent_id": None, "x": "left"}})
        error = await ws.expect("error")
        assert error["message"] == "origin.x: must be a finite number"
    with admin.client() as c:
        assert c.get(f"/projects/{pid}/pending-changes").json()["data"] == []
    async with CanvasClient(daemon, pid, admin.token) as ws:
        [node] = [n for n in ws.received[0]["payload"]["nodes"] if n["id"] == sid]
        assert (node["parent_id"], node["position_x"], node["position_y"]) == (None, 40.0, 50.0)
