"""Credentials in a repository URL (``http://user:token@host/repo.git``) through the real daemon: the
builder clones with them, but no member sees them, the database file does not hold them in the
clear, and the debug log does not print them. Files the daemon keeps are private to it."""

from __future__ import annotations

import base64
import http.server
import os
import sqlite3
import stat
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.builder.conftest import Repo, run
from tests.e2e.support import Account, CanvasClient, Daemon, create_member, create_project, register_admin
from tests.e2e.test_build_security import host_address, make_repo, settled, start
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

USER = "bot"
TOKEN = f"ghp_{uuid.uuid4().hex}"


class GitOverHTTP(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol (``git http-backend``) behind HTTP Basic authentication."""

    root: Path

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def serve(self) -> None:
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type") or "",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding") or "",
            "REMOTE_USER": USER,
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Remote:
    repo: Repo
    url: str
    """With the credentials."""

    @property
    def shown(self) -> str:
        return self.url.replace(TOKEN, "***")


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    """A repository served over smart HTTP on one of this host's (non-loopback) addresses, readable
    only with the token."""
    work = make_repo(tmp_path / "work")
    root = tmp_path / "served"
    root.mkdir()
    run("git", "clone", "-q", "--bare", str(work.path), str(root / "app.git"))
    handler = type("Handler", (GitOverHTTP,), {"root": root})
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Remote(work, f"http://{USER}:{TOKEN}@{host_address()}:{server.server_address[1]}/app.git")
    finally:
        server.shutdown()
        server.server_close()


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("deploykit.db*"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_credentials_clone_but_are_never_shown_stored_or_logged_in_the_clear(
    tmp_path: Path, remote: Remote
) -> None:
    data = tmp_path / "data"
    daemon = start(data, "--log-level", "debug")
    try:
        admin = register_admin(daemon)
        member = create_member(admin, "member@example.com")
        pid = create_project(admin, "Private repo")["id"]
        source = {"type": "git", "repo_url": remote.url, "branch": "main"}
        with admin.client() as c:
            r = c.post(f"/projects/{pid}/services", json={"name": "api", "source": source})
            assert r.status_code == 200, r.text
            assert r.json()["payload"]["source"]["repo_url"] == remote.shown
            temp = r.json()["target_temp_id"]
        async with CanvasClient(daemon, pid, member.token) as ws:
            state = ws.received[0]["payload"]
            assert TOKEN not in str(state)
            assert remote.shown in str(state)
        with admin.client() as c:
            sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]
        first = wait_for_sync(
            lambda: deployments(member, pid, sid), within=10, message="a deployment", retry_on=(Exception,)
        )[0]
        assert settled(member, pid, sid, first["id"])["status"] == "healthy"  # the builder had the token

        # What a member sees, everywhere.
        with member.client() as c:
            assert c.get(f"/projects/{pid}/services/{sid}").json()["source"]["repo_url"] == remote.shown
            assert c.get(f"/projects/{pid}/services/{sid}/deployments/{first['id']}").json()["source"] == {
                **source,
                "repo_url": remote.shown,
                "dockerfile_path": "Dockerfile",
                "context": ".",
            }
            # Sending back what it was shown keeps the real URL; the next build still clones.
            r = c.patch(f"/projects/{pid}/services/{sid}", json={"source": {**source, "repo_url": remote.shown}})
            assert r.status_code == 200, r.text
            assert r.json()["payload"]["source"]["repo_url"] == remote.shown
            changes = c.get(f"/projects/{pid}/pending-changes").text
            assert TOKEN not in changes
            r = c.post(f"/projects/{pid}/services/{sid}/redeploy")
            assert r.status_code in (200, 201), r.text
            assert settled(member, pid, sid, r.json()["id"])["status"] == "healthy"
            assert TOKEN not in c.get(f"/projects/{pid}/services/{sid}/deployments").text
    finally:
        daemon.terminate(clean_engine=True)

    assert TOKEN.encode() not in database_bytes(data)
    log = (data / "daemon.log").read_text()
    assert "DEBUG" in log
    assert remote.shown.split("@")[1] in log  # the debug log does mention the repository
    assert TOKEN not in log
    assert (mode(data), mode(data / "builds"), mode(data / "secret.key")) == (0o700, 0o700, 0o600)
    assert {p.name: mode(p) for p in data.glob("deploykit.db*")}["deploykit.db"] == 0o600
    assert all(mode(p) == 0o600 for p in data.glob("deploykit.db*"))


def deployments(account: Account, pid: str, sid: str) -> list[dict[str, Any]] | None:
    with account.client() as c:
        data = c.get(f"/projects/{pid}/services/{sid}/deployments").json()["data"]
    return list(data) or None


def test_credentials_stored_in_the_clear_before_are_sealed_on_upgrade(tmp_path: Path, remote: Remote) -> None:
    data = tmp_path / "data"
    instance = f"e2e-cred-{uuid.uuid4().hex[:8]}"
    daemon = start(data, instance=instance)
    try:
        admin = register_admin(daemon)
        pid = create_project(admin, "Old rows")["id"]
        with admin.client() as c:
            r = c.post(f"/projects/{pid}/services", json={"name": "api", "source": {"type": "git",
                       "repo_url": remote.url}})  # fmt: skip
            sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][r.json()["target_temp_id"]]
        first = wait_for_sync(
            lambda: deployments(admin, pid, sid), within=10, message="a deployment", retry_on=(Exception,)
        )[0]
        assert settled(admin, pid, sid, first["id"])["status"] == "healthy"
    finally:
        daemon.terminate()
    data.chmod(0o755)  # as the daemon left it before
    # The rows as a daemon before sealing wrote them: the URL with its token, in the clear.
    db = sqlite3.connect(data / "deploykit.db")
    with db:
        for table in ("services", "deployments"):
            db.execute(
                f"UPDATE {table} SET config = json_remove(json_set(config, '$.source.repo_url', ?), "
                "'$.source.repo_url_sealed')",
                (remote.url,),
            )
        assert db.execute("SELECT COUNT(*) FROM services WHERE config LIKE ?", (f"%{TOKEN}%",)).fetchone() == (1,)
    db.execute("VACUUM")
    db.close()
    os.chmod(data / "deploykit.db", 0o644)

    daemon = start(data, instance=instance)
    try:
        with daemon.client(admin.token) as c:
            assert c.get(f"/projects/{pid}/services/{sid}").json()["source"]["repo_url"] == remote.shown
            r = c.post(f"/projects/{pid}/services/{sid}/redeploy")
            assert r.status_code in (200, 201), r.text
        assert settled_on(daemon, admin, pid, sid, r.json()["id"])["status"] == "healthy"
    finally:
        daemon.terminate(clean_engine=True)
    assert TOKEN.encode() not in database_bytes(data)
    assert (mode(data), mode(data / "deploykit.db")) == (0o700, 0o600)


def settled_on(daemon: Daemon, account: Account, pid: str, sid: str, dep_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        with daemon.client(account.token) as c:
            d = c.get(f"/projects/{pid}/services/{sid}/deployments/{dep_id}").json()
        return dict(d) if d["status"] in ("healthy", "failed") else None

    return wait_for_sync(done, within=90, message=f"deployment {dep_id[:8]} to settle", retry_on=(Exception,))
