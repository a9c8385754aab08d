"""Registration, login, token rotation, logout and API keys through the real daemon."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.support import (
    PASSWORD,
    UNSETTLED,
    Account,
    CanvasClient,
    Daemon,
    create_member,
    create_project,
    login,
    running,
)
from tests.wait import wait_for_sync


def test_first_user_becomes_admin_and_registration_then_closes(fresh_dir: Path) -> None:
    with running(fresh_dir) as d, d.client() as c:
        assert c.get("/auth/register").json() == {"can_register": True}
        r = c.post("/auth/register", json={"email": "First@Example.com", "name": "First", "password": PASSWORD})
        assert r.status_code == 201
        body = r.json()
        assert body["user"]["role"] == "admin"
        assert body["user"]["email"] == "first@example.com"
        assert set(body["tokens"]) == {"access_token", "refresh_token", "expires_at"}
        assert c.get("/auth/register").json() == {"can_register": False}
        again = c.post("/auth/register", json={"email": "second@example.com", "name": "Second", "password": PASSWORD})
        assert again.status_code == 409
        assert again.json() == {"error": "conflict", "message": "Registration is closed."}


def test_login_returns_tokens_that_authenticate(daemon: Daemon, admin: Account) -> None:
    account = login(daemon, admin.email)
    with account.client() as c:
        me = c.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["email"] == admin.email


def test_wrong_password_is_401_with_one_message(daemon: Daemon, admin: Account) -> None:
    with daemon.client() as c:
        wrong = c.post("/auth/login", json={"email": admin.email, "password": "not the password"})
        unknown = c.post("/auth/login", json={"email": "nobody@example.com", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "unauthorized"


def test_refresh_rotates_the_pair_and_reusing_the_old_token_revokes_the_session(daemon: Daemon, admin: Account) -> None:
    account = login(daemon, admin.email)
    old = account.tokens
    with daemon.client() as c:
        r = c.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
        assert r.status_code == 200
        new = r.json()
        assert new["access_token"] != old["access_token"]
        assert new["refresh_token"] != old["refresh_token"]
        bearer = {"Authorization": f"Bearer {old['access_token']}"}
        assert c.get("/auth/me", headers=bearer).status_code == 401
        fresh = {"Authorization": f"Bearer {new['access_token']}"}
        assert c.get("/auth/me", headers=fresh).status_code == 200
        # The rotated refresh token shows up again: someone copied it. The session ends.
        reuse = c.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
        assert reuse.status_code == 401
        assert c.get("/auth/me", headers=fresh).status_code == 401
        assert c.post("/auth/refresh", json={"refresh_token": new["refresh_token"]}).status_code == 401


def test_logout_ends_only_this_session_and_all_ends_every_one(daemon: Daemon, admin: Account) -> None:
    member = create_member(admin, "logout@example.com")
    first, second, third = (login(daemon, member.email) for _ in range(3))
    with first.client() as c:
        assert c.post("/auth/logout").status_code == 204
        assert c.get("/auth/me").status_code == 401
    with second.client() as c:
        assert c.get("/auth/me").status_code == 200
        assert c.post("/auth/logout", params={"all": "true"}).status_code == 204
    with third.client() as c:
        assert c.get("/auth/me").status_code == 401


def test_api_keys_authenticate_until_they_expire_or_are_deleted(daemon: Daemon, admin: Account) -> None:
    account = login(daemon, admin.email)
    with account.client() as c:
        lasting = c.post("/api-keys", json={"description": "ci"})
        assert lasting.status_code == 201
        key = lasting.json()
        assert key["token"].startswith("dk_")
        soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
        short = c.post("/api-keys", json={"description": "short", "expires_at": soon}).json()
        past = c.post("/api-keys", json={"description": "past", "expires_at": "2020-01-01T00:00:00Z"})
        assert past.status_code == 422
        assert past.json()["fields"] == {"expires_at": ["must be in the future"]}
        listed = c.get("/api-keys").json()["data"]
        assert {k["description"] for k in listed} >= {"ci", "short"}
        assert all("token" not in k for k in listed)
    with daemon.client(key["token"]) as k:
        assert k.get("/auth/me").json()["id"] == admin.user["id"]
        # A key cannot mint keys: a leaked one would otherwise outlive its own deletion.
        minted = k.post("/api-keys", json={"description": "successor"})
        assert minted.status_code == 403
        assert minted.json()["message"] == "An API key cannot create API keys; sign in to create one."
    with daemon.client(short["token"]) as k:
        assert k.get("/projects").status_code == 200
        wait_for_sync(
            lambda: k.get("/projects").status_code == 401,
            within=15,
            message="the short key to expire",
            retry_on=UNSETTLED,
        )
    with account.client() as c:
        assert c.delete(f"/api-keys/{key['id']}").status_code == 204
    with daemon.client(key["token"]) as k:
        assert k.get("/auth/me").status_code == 401


def test_profile_update_needs_the_current_password_to_change_the_email(daemon: Daemon, admin: Account) -> None:
    member = create_member(admin, "profile@example.com", "Pat")
    with member.client() as c:
        renamed = c.patch("/auth/profile", json={"name": "Patricia"})
        assert renamed.status_code == 200
        assert renamed.json()["name"] == "Patricia"
        missing = c.patch("/auth/profile", json={"email": "pat@example.com"})
        assert missing.status_code == 422
        assert missing.json()["fields"] == {"current_password": ["is required to change email or password"]}
        wrong = c.patch("/auth/profile", json={"email": "pat@example.com", "current_password": "nope nope"})
        assert wrong.status_code == 422
        assert wrong.json()["fields"] == {"current_password": ["is incorrect"]}
        ok = c.patch("/auth/profile", json={"email": "pat@example.com", "current_password": PASSWORD})
        assert ok.json()["email"] == "pat@example.com"


def test_login_is_rate_limited_after_five_failures(fresh_dir: Path) -> None:
    with running(fresh_dir) as d, d.client() as c:
        c.post("/auth/register", json={"email": "rl@example.com", "name": "R", "password": PASSWORD})
        for _ in range(5):
            assert (
                c.post("/auth/login", json={"email": "rl@example.com", "password": "wrong-password"}).status_code == 401
            )
        limited = c.post("/auth/login", json={"email": "rl@example.com", "password": PASSWORD})
        assert limited.status_code == 429
        assert limited.json() == {"error": "rate_limited", "message": "Too many failed logins; try again later."}
        assert 800 < int(limited.headers["retry-after"]) <= 900


def test_a_new_password_signs_out_every_other_session_and_its_canvas(daemon: Daemon, admin: Account) -> None:
    member = create_member(admin, "newpass@example.com", "Nell")
    here, elsewhere = login(daemon, member.email), login(daemon, member.email)
    pid = create_project(admin, "Password Shop")["id"]

    async def change_while_elsewhere_watches_the_canvas() -> int:
        async with CanvasClient(daemon, pid, elsewhere.token) as canvas:
            with here.client() as c:
                r = c.patch("/auth/profile", json={"new_password": "a brand new one", "current_password": PASSWORD})
                assert r.status_code == 200, r.text
            return await canvas.closed_with(deadline_s=10)

    assert asyncio.run(change_while_elsewhere_watches_the_canvas()) == 4001
    with here.client() as c:
        assert c.get("/auth/me").status_code == 200  # the session that changed it stays
    with elsewhere.client() as c:
        assert c.get("/auth/me").status_code == 401
        assert c.post("/auth/refresh", json={"refresh_token": elsewhere.tokens["refresh_token"]}).status_code == 401
    assert login(daemon, member.email, password="a brand new one").user["email"] == member.email
