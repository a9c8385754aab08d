"""Input crafted to poison the store or break a read, through the real daemon: each is refused
with the field that carries it, and what was stored before stays readable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.support import Account, CanvasClient, Daemon, create_member, create_project

IMAGE = {"type": "image", "image": "nginx:1.27"}
SURROGATE = "must not contain unpaired surrogates (\\ud800-\\udfff)"


def strict(raw: str) -> Any:
    """Parse as a browser does, and fail on what a browser would choke on."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a response")

    data = json.loads(raw, parse_constant=refuse)
    raw.encode()  # no unpaired surrogate survives into a response
    return data


def post_raw(c: Any, path: str, body: str) -> Any:
    return c.post(path, content=body.encode(), headers={"Content-Type": "application/json"})


def assert_project_readable(c: Any, pid: str, services: list[str]) -> None:
    for path in (f"/projects/{pid}/pending-changes", f"/projects/{pid}/services", "/projects"):
        r = c.get(path)
        assert r.status_code == 200, (path, r.text)
        strict(r.text)
    staged = strict(c.get(f"/projects/{pid}/pending-changes").text)["data"]
    assert sorted(ch["payload"]["name"] for ch in staged if ch["kind"] == "service.create") == services


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            '{"name": "web", "source": {"type": "image", "image": "nginx"}, "command": ["sh", "\\ud800"]}',
            {"command.1": [SURROGATE]},
        ),
        ('{"name": "w\\udfffeb", "source": {"type": "image", "image": "nginx"}}', {"name": [SURROGATE]}),
        (
            '{"name": "web", "source": {"type": "image", "image": "nginx"}, "\\ud800": 1}',
            {"<key>": ["must not contain unpaired surrogates"]},
        ),
        (
            '{"name": "web", "source": {"type": "image", "image": "nginx"}, "resources": {"memory_mb": '
            + "9" * 24
            + "}}",
            {"resources.memory_mb": ["must be a 64-bit integer"]},
        ),
        (
            '{"name": "web", "source": {"type": "image", "image": "nginx"}, "position_x": 1e400}',
            {"position_x": ["must be a finite number"]},
        ),
        ('{"name": ' + "[" * 5000 + "]" * 5000 + "}", {"body": ["must not be nested more than 32 levels deep"]}),
        (
            '{"name": ' + "[" * 40 + "]" * 40 + "}",
            {"name" + ".0" * 31: ["must not be nested more than 32 levels deep"]},
        ),
    ],
)
def test_unstorable_json_is_422_naming_the_field_and_the_project_stays_readable(
    admin: Account, body: str, fields: dict[str, list[str]]
) -> None:
    pid = create_project(admin, "Hostile")["id"]
    with admin.client() as c:
        assert c.post(f"/projects/{pid}/services", json={"name": "kept", "source": IMAGE}).status_code == 200
        r = post_raw(c, f"/projects/{pid}/services", body)
        assert r.status_code == 422, r.text
        assert r.json()["fields"] == fields
        assert_project_readable(c, pid, ["kept"])


def test_a_surrogate_in_a_project_name_or_a_profile_is_refused(admin: Account) -> None:
    with admin.client() as c:
        r = post_raw(c, "/projects", '{"name": "Shop \\ud83d"}')
        assert (r.status_code, r.json()["fields"]) == (422, {"name": [SURROGATE]})
        r = c.patch("/auth/profile", content=b'{"name": "\\udc00"}', headers={"Content-Type": "application/json"})
        assert (r.status_code, r.json()["fields"]) == (422, {"name": [SURROGATE]})
        assert strict(c.get("/auth/me").text)["name"] == admin.user["name"]
        # A well-formed pair is a character like any other.
        ok = post_raw(c, "/projects", '{"name": "Shop \\ud83d\\ude00"}')
        assert ok.status_code == 201
        assert ok.json()["name"] == "Shop \U0001f600"


@pytest.mark.parametrize("path", ["/projects", "/users"])
def test_a_24_digit_offset_is_422_naming_it(admin: Account, path: str) -> None:
    with admin.client() as c:
        r = c.get(path, params={"offset": "1" * 24})
        assert r.status_code == 422, r.text
        assert r.json()["fields"] == {"offset": ["Input should be less than or equal to 1000000000"]}
        assert c.get(path, params={"offset": "1000000000"}).json()["data"] == []


async def test_canvas_messages_that_cannot_be_stored_are_refused_and_the_canvas_stays_readable(
    daemon: Daemon, admin: Account
) -> None:
    pid = create_project(admin, "Hostile canvas")["id"]
    async with CanvasClient(daemon, pid, admin.token) as ws:
        await ws.send("node:upsert", {"id": "ok", "type": "note", "position_x": 1, "position_y": 2})
        await ws.expect("node:upserted", lambda p: p["id"] == "ok")
        await ws.ws.send(
            '{"type": "node:upsert", "payload": {"id": "bad", "type": "note", "data": {"text": "\\ud800"}}}'
        )
        error = await ws.expect("error")
        assert error["fields"] == {"payload.data.text": [SURROGATE]}
        await ws.ws.send('{"type": "cursor:move", "payload": ' + "[" * 5000 + "]" * 5000 + "}")
        error = await ws.expect("error")
        assert error["fields"] == {"body": ["must not be nested more than 32 levels deep"]}
    async with CanvasClient(daemon, pid, admin.token) as late:
        state = strict(json.dumps(late.received[0]))["payload"]
        assert [n["id"] for n in state["nodes"]] == ["ok"]


def drafts_in(client: CanvasClient) -> list[str]:
    state = next(m for m in client.received if m["type"] == "service:drafts")
    return sorted(d["draft_id"] for d in state["payload"]["drafts"])


async def test_canvas_drafts_are_bounded_owned_and_freed_with_their_socket(daemon: Daemon, admin: Account) -> None:
    pid = create_project(admin, "Drafts")["id"]
    member = create_member(admin, "drafter@example.com")
    async with CanvasClient(daemon, pid, member.token) as watcher:
        async with CanvasClient(daemon, pid, admin.token) as ws:
            await ws.send("service:draft-start", {"draft_id": "huge", "name": "big", "notes": "x" * 250_000})
            assert await ws.expect("error") == {"message": "A draft is at most 16 KiB.", "type": "service:draft-start"}
            for i in range(12):
                await ws.send("service:draft-start", {"draft_id": f"d{i:02}", "name": f"svc{i}"})
            for _ in ("d10", "d11"):
                assert await ws.expect("error") == {
                    "message": "At most 10 drafts at once; finish or cancel one first.",
                    "type": "service:draft-start",
                }
            await watcher.expect("service:drafting", lambda p: p["draft_id"] == "d09")
            async with CanvasClient(daemon, pid, member.token) as other:
                assert drafts_in(other) == [f"d{i:02}" for i in range(10)]
                await other.send("service:draft-start", {"draft_id": "d00", "name": "mine now"})
                assert (await other.expect("error"))["message"] == "This draft belongs to someone else."
                await other.send("service:draft-cancel", {"draft_id": "d01"})
            # Growing an own draft past the limit is refused too, and the draft stays as it was.
            await ws.send("service:draft-start", {"draft_id": "d02", "notes": "y" * 20_000})
            assert (await ws.expect("error"))["message"] == "A draft is at most 16 KiB."
        # The socket closed: its drafts go, and every other client hears so.
        for i in range(10):
            cancelled = await watcher.expect("service:draft-cancelled")
            assert cancelled == {"draft_id": f"d{i:02}"}
        assert not [
            m for m in watcher.received if m["type"] == "service:drafting" and m["payload"]["name"] == "mine now"
        ]
    async with CanvasClient(daemon, pid, admin.token) as late:
        assert drafts_in(late) == []
