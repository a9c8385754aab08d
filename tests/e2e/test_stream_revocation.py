"""With a real Docker engine: a runtime-log stream ends within seconds of the session or key
that opened it ending, however it ended, and the service goes on running."""

from __future__ import annotations

import subprocess
import threading

import httpx
import pytest

from tests.conftest import TEST_IMAGE
from tests.e2e.support import (
    PASSWORD,
    CanvasClient,
    Daemon,
    create_member,
    create_project,
    login,
    register_admin,
)
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCRIPT = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
ENDS_WITHIN_S = 10.0


class LogStream:
    """A runtime-log event stream read on a thread: the data lines it got, and whether it ended."""

    def __init__(self, daemon: Daemon, path: str, token: str) -> None:
        self.url = f"{daemon.base}/api{path}/logs?tail=5"
        self.token = token
        self.lines = 0
        self.status = 0
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, name="log-stream", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            with httpx.stream("GET", self.url, headers=headers, timeout=30) as r:
                self.status = r.status_code
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.lines += 1
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def live(self) -> bool:
        return self.status == 200 and self.lines > 0 and not self.ended.is_set()


def running_containers(project_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=deploykit.project-id={project_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()


async def deploy_ticker(daemon: Daemon, token: str, pid: str) -> str:
    async with CanvasClient(daemon, pid, token) as ws:
        with daemon.client(token) as c:
            body = {"name": "ticker", "source": {"type": "image", "image": TEST_IMAGE}, "command": ["sh", "-c", SCRIPT]}
            temp = c.post(f"/projects/{pid}/services", json=body).json()["target_temp_id"]
            sid = str(c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp])
        await ws.expect("deployment:healthy", lambda p: p["service_id"] == sid, deadline_s=90)
    return sid


async def test_log_streams_end_with_their_session_or_key(docker_daemon: Daemon) -> None:
    d = docker_daemon
    admin = register_admin(d)
    pid = create_project(admin, "Streams")["id"]
    sid = await deploy_ticker(d, admin.token, pid)
    path = f"/projects/{pid}/services/{sid}"
    logout_all = create_member(admin, "logout-all@example.com")
    new_password = create_member(admin, "new-password@example.com")
    deleted = create_member(admin, "deleted@example.com")
    with admin.client() as c:
        key = c.post("/api-keys", json={"description": "stream"}).json()
    streams = {
        "logout-all": LogStream(d, path, logout_all.token),
        "new-password": LogStream(d, path, new_password.token),
        "deleted": LogStream(d, path, deleted.token),
        "key": LogStream(d, path, key["token"]),
        "admin": LogStream(d, path, admin.token),
    }
    wait_for_sync(
        lambda: all(s.live() for s in streams.values()),
        within=30,
        message="every stream to carry log lines",
        retry_on=(Exception,),
    )

    with logout_all.client() as c:
        assert c.post("/auth/logout", params={"all": "true"}).status_code == 204
    with new_password.client() as c:
        body = {"new_password": "another fine password", "current_password": PASSWORD}
        assert c.patch("/auth/profile", json=body).status_code == 200  # ends every other session
    with admin.client() as c:
        assert c.delete(f"/users/{deleted.user['id']}").status_code == 204
        assert c.delete(f"/api-keys/{key['id']}").status_code == 204

    # The stream opened by the session that changed the password stays: that session goes on.
    for name in ("logout-all", "deleted", "key"):
        assert streams[name].ended.wait(ENDS_WITHIN_S), f"the {name} stream is still open"
    assert not streams["new-password"].ended.is_set()
    seen = streams["admin"].lines
    wait_for_sync(
        lambda: streams["admin"].lines > seen + 3,
        within=10,
        message="the admin's stream to go on",
        retry_on=(Exception,),
    )
    assert streams["admin"].live()
    with admin.client() as c:
        assert c.get(f"{path}/containers").json()["data"][0]["state"] == "running"
    assert len(running_containers(pid)) == 1


async def test_a_stream_ends_when_a_password_change_elsewhere_ends_its_session(docker_daemon: Daemon) -> None:
    d = docker_daemon
    admin = register_admin(d)
    pid = create_project(admin, "Password streams")["id"]
    sid = await deploy_ticker(d, admin.token, pid)
    member = create_member(admin, "watcher@example.com")
    here = login(d, member.email)
    stream = LogStream(d, f"/projects/{pid}/services/{sid}", member.token)
    wait_for_sync(stream.live, within=30, message="the stream to carry log lines", retry_on=(Exception,))
    with here.client() as c:
        body = {"new_password": "another fine password", "current_password": PASSWORD}
        assert c.patch("/auth/profile", json=body).status_code == 200
    assert stream.ended.wait(ENDS_WITHIN_S)
    assert len(running_containers(pid)) == 1
