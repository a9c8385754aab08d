"""Abuse of the API through the real daemon: input that must be refused before it is stored."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.support import Account, CanvasClient, Daemon, create_project

IMAGE = {"type": "image", "image": "nginx:1.27"}


def strict_json(raw: str) -> Any:
    """Parse as a browser does: ``NaN`` and ``Infinity`` are not JSON."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a response")

    return json.loads(raw, parse_constant=refuse)


def test_a_nan_literal_in_a_body_is_malformed_json(admin: Account) -> None:
    pid = create_project(admin, "Literal")["id"]
    body = '{"name": "web", "source": {"type": "image", "image": "nginx:1.27"}, "position_x": NaN}'
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/services", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.json() == {"error": "invalid", "message": "Malformed JSON body."}
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}


def test_an_infinite_position_is_refused_and_the_project_stays_readable(admin: Account) -> None:
    pid = create_project(admin, "Infinite")["id"]
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/services", json={"name": "web", "source": IMAGE, "position_x": "Infinity"})
        assert r.status_code == 422
        assert r.json()["fields"] == {"position_x": ["Input should be a finite number"]}
        r = c.get(f"/projects/{pid}/pending-changes")
        assert r.status_code == 200
        assert strict_json(r.text) == {"data": []}


async def test_canvas_messages_with_non_finite_numbers_are_refused_and_not_stored(
    daemon: Daemon, admin: Account
) -> None:
    pid = create_project(admin, "Canvas numbers")["id"]
    async with CanvasClient(daemon, pid, admin.token) as ws:
        await ws.send("node:upsert", {"id": "n1", "type": "note", "position_x": "Infinity"})
        error = await ws.expect("error")
        assert error == {"message": "Malformed node:upsert message.", "type": "node:upsert"}
        await ws.send("service:create", {"name": "web", "source": IMAGE, "x": "-Infinity"})
        error = await ws.expect("error")
        assert error == {"message": "Malformed service:create message.", "type": "service:create"}
        await ws.ws.send('{"type": "cursor:move", "payload": {"x": NaN, "y": 0}}')
        assert (await ws.expect("error")) == {"message": "Messages are JSON {type, payload}."}
        await ws.send("node:upsert", {"id": "n2", "type": "note", "position_x": 1, "position_y": 2})
        await ws.expect("node:upserted", lambda p: p["id"] == "n2")
        await ws.send("node:move", {"positions": [{"id": "n2", "position_x": "NaN", "position_y": 0}]})
        error = await ws.expect("error")
        assert error == {"message": "Malformed node:move message.", "type": "node:move"}
    async with CanvasClient(daemon, pid, admin.token) as late:
        raw = json.dumps(late.received[0])
        state = strict_json(raw)["payload"]
        assert [(n["id"], n["position_x"], n["position_y"]) for n in state["nodes"]] == [("n2", 1.0, 2.0)]
    with admin.client() as c:
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}


async def test_a_deployed_service_node_cannot_become_a_group_and_be_deleted_unstaged(
    daemon: Daemon, admin: Account
) -> None:
    pid = create_project(admin, "Node types")["id"]
    with admin.client() as c:
        temp = c.post(f"/projects/{pid}/services", json={"name": "keep", "source": IMAGE}).json()["target_temp_id"]
        sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]
    async with CanvasClient(daemon, pid, admin.token) as ws:
        await ws.send("node:upsert", {"id": sid, "type": "group"})
        error = await ws.expect("error")
        assert error == {"message": "A node cannot become a service node or stop being one.", "type": "node:upsert"}
        await ws.send("node:upsert", {"id": "note-1", "type": "note"})
        await ws.expect("node:upserted", lambda p: p["id"] == "note-1")
        await ws.send("node:upsert", {"id": "note-1", "type": "service"})
        error = await ws.expect("error")
        assert error == {"message": "A node cannot become a service node or stop being one.", "type": "node:upsert"}
        await ws.send("node:delete", {"id": sid})
        change = await ws.expect("pending-change:added")
        assert (change["kind"], change["target_id"]) == ("service.delete", sid)
    async with CanvasClient(daemon, pid, admin.token) as late:
        types = {n["id"]: n["type"] for n in late.received[0]["payload"]["nodes"]}
        assert types == {sid: "service", "note-1": "note"}
