"""Credentials that must not survive a compromise, through the real daemon: a password reset
(by the operator or an admin) ends the user's API keys too, and a password change asks for the
current password and can end the keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.support import PASSWORD, Account, Daemon, create_member, create_project, login, register_admin, running


def make_key(account: Account, description: str = "ci") -> str:
    with account.client() as c:
        r = c.post("/api-keys", json={"description": description})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def works(daemon: Daemon, token: str) -> bool:
    with daemon.client(token) as c:
        return bool(c.get("/auth/me").status_code == 200)


def reset(data: Path, email: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["reset-password", "--data-dir", str(data), "--email", email, "--password", "a new password!", *extra]
    return subprocess.run([sys.executable, "-m", "deploykitd", *argv], capture_output=True, text=True, timeout=60)


def test_reset_password_deletes_the_users_api_keys_unless_told_to_keep_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running(data) as d:
        admin = register_admin(d)
        member = create_member(admin, "leaked@example.com")
        key = make_key(member)
        kept = make_key(admin, "kept")
        pid = create_project(admin, "Stays")["id"]
    done = reset(data, member.email)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Password of leaked@example.com reset; their sessions and API keys have ended."
    keep = reset(data, admin.email, "--keep-api-keys")
    assert keep.stdout.strip() == "Password of admin@example.com reset; their sessions have ended."
    with running(data) as d:
        assert not works(d, key)
        assert not works(d, member.token)
        assert works(d, kept)  # the admin's reset kept its keys, as asked
        with d.client(kept) as c:
            assert [p["id"] for p in c.get("/projects").json()["data"]] == [pid]
        assert login(d, member.email, password="a new password!").user["email"] == member.email


def test_an_admins_password_reset_deletes_the_users_api_keys_unless_kept(daemon: Daemon, admin: Account) -> None:
    member = create_member(admin, "reset-by-admin@example.com")
    first, second = make_key(member, "first"), make_key(member, "second")
    with admin.client() as c:
        r = c.patch(f"/users/{member.user['id']}", json={"password": "reset by the admin"})
        assert r.status_code == 200, r.text
    assert not works(daemon, first)
    assert not works(daemon, second)
    assert not works(daemon, member.token)
    again = login(daemon, member.email, password="reset by the admin")
    third = make_key(again, "third")
    with admin.client() as c:
        body = {"password": "reset once more", "keep_api_keys": True}
        assert c.patch(f"/users/{member.user['id']}", json=body).status_code == 200
    assert works(daemon, third)
    assert not works(daemon, again.token)


def test_a_password_change_needs_the_current_password_and_can_revoke_keys(daemon: Daemon, admin: Account) -> None:
    member = create_member(admin, "changes@example.com")
    key = make_key(member)
    with member.client() as c:
        missing = c.patch("/auth/profile", json={"new_password": "a fresh password"})
        assert missing.status_code == 422
        assert missing.json()["fields"] == {"current_password": ["is required to change email or password"]}
        wrong = c.patch("/auth/profile", json={"new_password": "a fresh password", "current_password": "a guess!!"})
        assert wrong.status_code == 422
        assert wrong.json() == {
            "error": "invalid",
            "message": "The current password is incorrect.",
            "fields": {"current_password": ["is incorrect"]},
        }
        assert c.get("/auth/me").status_code == 200  # a wrong guess does not sign the user out
        assert works(daemon, key)
        body = {"new_password": "a fresh password", "current_password": PASSWORD, "revoke_api_keys": True}
        assert c.patch("/auth/profile", json=body).status_code == 200
        assert c.get("/auth/me").status_code == 200
        assert c.get("/api-keys").json() == {"data": []}
    assert not works(daemon, key)
    assert login(daemon, member.email, password="a fresh password").user["id"] == member.user["id"]


def test_a_password_change_keeps_keys_unless_asked(daemon: Daemon, admin: Account) -> None:
    member = create_member(admin, "keeps@example.com")
    key = make_key(member)
    with member.client() as c:
        body = {"new_password": "a fresh password", "current_password": PASSWORD}
        assert c.patch("/auth/profile", json=body).status_code == 200
    assert works(daemon, key)


def test_an_admin_cannot_reset_their_own_password_without_the_current_one(daemon: Daemon, admin: Account) -> None:
    with admin.client() as c:
        r = c.patch(f"/users/{admin.user['id']}", json={"password": "no current one asked"})
        assert r.status_code == 403, r.text
        assert r.json() == {
            "error": "forbidden",
            "message": "Change your own password from your profile, with your current password.",
        }
    assert login(daemon, admin.email).user["id"] == admin.user["id"]
