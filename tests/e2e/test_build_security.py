"""What a member can make the real daemon build from, and what a repository can do to the builder:
repositories on the daemon's own host are refused (at staging and again at build time), failed
connections all look the same, and nothing stored is lost on the way."""

from __future__ import annotations

import http.server
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builder.conftest import Repo, run
from tests.conftest import TEST_IMAGE
from tests.e2e.support import (
    Account,
    CanvasClient,
    Daemon,
    create_member,
    create_project,
    free_port,
    login,
    register_admin,
)
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LOCAL_REFUSED = (
    "is a repository on the daemon's own host; the daemon refuses those unless started with --allow-local-repos"
)
BUILD_S = 90.0


def git_source(url: str) -> dict[str, Any]:
    return {"type": "git", "repo_url": url, "branch": "main"}


def make_repo(path: Path, *steps: str) -> Repo:
    repo = Repo(path)
    run("git", "init", "-q", "-b", "main", str(path))
    dockerfile = "\n".join([f"FROM {TEST_IMAGE}", "COPY index.html /www/index.html", *steps, 'CMD ["sleep", "3600"]'])
    repo.commit({"Dockerfile": dockerfile + "\n", "index.html": "hello\n"}, "first")
    return repo


def start(data_dir: Path, *extra: str, instance: str | None = None) -> Daemon:
    args = ["--instance-id", instance or f"e2e-sec-{uuid.uuid4().hex[:8]}", *extra]
    return Daemon(data_dir, docker=True, extra_args=args).start()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with Docker and the defaults: no --allow-local-repos."""
    daemon = start(tmp_path_factory.mktemp("guarded") / "data")
    yield daemon
    daemon.terminate(clean_engine=True)


@pytest.fixture(scope="module")
def member(guarded: Daemon) -> Account:
    """An ordinary member: the attacker of these tests."""
    return create_member(register_admin(guarded), "member@example.com")


def apply(account: Account, pid: str, name: str, url: str) -> tuple[str, str]:
    """Stage and apply a git service; its id and its first deployment's id."""
    with account.client() as c:
        r = c.post(f"/projects/{pid}/services", json={"name": name, "source": git_source(url)})
        assert r.status_code == 200, r.text
        applied = c.post(f"/projects/{pid}/deploy")
        assert applied.status_code == 200, applied.text
        sid = applied.json()["temp_id_to_service_id"][r.json()["target_temp_id"]]
    return sid, latest_deployment(account, pid, sid)


def latest_deployment(account: Account, pid: str, sid: str) -> str:
    def first() -> str | None:
        with account.client() as c:
            data = c.get(f"/projects/{pid}/services/{sid}/deployments").json()["data"]
        return str(data[0]["id"]) if data else None

    return wait_for_sync(first, within=10, message="a deployment", retry_on=(Exception,))


def settled(account: Account, pid: str, sid: str, dep_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        with account.client() as c:
            d = c.get(f"/projects/{pid}/services/{sid}/deployments/{dep_id}").json()
        return dict(d) if d["status"] in ("healthy", "failed") else None

    return wait_for_sync(done, within=BUILD_S, message=f"deployment {dep_id[:8]} to settle", retry_on=(Exception,))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc",
        "/var/lib/docker/volumes/planted/_data/repo",
        "http://127.0.0.1:18555/repo.git",
        "http://127.0.0.1:1/repo.git",
        "https://localhost/repo.git",
        "http://[::1]:8080/repo.git",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:22/repo.git",
        "ssh://git@[fe80::1]/repo.git",
        "git@127.0.0.2:repo.git",
    ],
)
def test_a_repository_on_the_daemons_host_is_refused_when_staged(member: Account, url: str) -> None:
    pid = create_project(member, f"Local {uuid.uuid4().hex[:6]}")["id"]
    with member.client() as c:
        r = c.post(f"/projects/{pid}/services", json={"name": "api", "source": git_source(url)})
        assert r.status_code == 422, r.text
        assert r.json()["fields"] == {"source.repo_url": [LOCAL_REFUSED]}
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}


async def test_an_update_or_a_canvas_create_to_a_local_repository_is_refused(guarded: Daemon, member: Account) -> None:
    pid = create_project(member, "Local edits")["id"]
    with member.client() as c:
        r = c.post(f"/projects/{pid}/services", json={"name": "web", "source": {"type": "image", "image": "nginx"}})
        temp = r.json()["target_temp_id"]
        sid = c.post(f"/projects/{pid}/deploy").json()["temp_id_to_service_id"][temp]
        r = c.patch(f"/projects/{pid}/services/{sid}", json={"source": git_source("file:///root/secrets")})
        assert r.status_code == 422, r.text
        assert r.json()["fields"] == {"source.repo_url": [LOCAL_REFUSED]}
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}
        assert c.get(f"/projects/{pid}/services/{sid}").json()["source"] == {"type": "image", "image": "nginx"}
    async with CanvasClient(guarded, pid, member.token) as ws:
        await ws.send("service:create", {"name": "sneaky", "source": git_source("/srv/git/app")})
        error = await ws.expect("error")
        assert error["type"] == "service:create", error
    with member.client() as c:
        assert c.get(f"/projects/{pid}/pending-changes").json() == {"data": []}


def test_a_host_name_that_resolves_to_loopback_is_refused_at_build_time(member: Account) -> None:
    # 2130706433 is 127.0.0.1 as one number: only resolving the name tells.
    pid = create_project(member, "Resolves local")["id"]
    sid, dep_id = apply(member, pid, "api", f"http://2130706433:{free_port()}/repo.git")
    dep = settled(member, pid, sid, dep_id)
    assert dep["status"] == "failed"
    assert (
        dep["failure_reason"]
        == f"build failed: git clone failed: 2130706433 resolves to the daemon's own host; {LOCAL_REFUSED}."
    )


def host_address() -> str:
    """An address of this host that is neither loopback nor link-local."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True, timeout=30
    )
    addresses = [line.split()[3].split("/")[0] for line in out.stdout.splitlines()]
    if not addresses:
        pytest.skip("this host has no global IPv4 address")
    return addresses[0]


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_open_and_a_closed_port_fail_with_the_same_message(member: Account) -> None:
    host = host_address()
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        pid = create_project(member, "Port scan")["id"]
        reasons = []
        for name, port in (("open", server.server_address[1]), ("closed", free_port())):
            sid, dep_id = apply(member, pid, name, f"http://{host}:{port}/repo.git")
            dep = settled(member, pid, sid, dep_id)
            assert dep["status"] == "failed"
            reasons.append(dep["failure_reason"])
    finally:
        server.shutdown()
        server.server_close()
    assert reasons[0] == reasons[1], reasons
    assert reasons[0] == (
        "build failed: git clone failed: the repository could not be reached or read "
        "(check the URL, and that the server answers and has it)."
    )


def test_a_local_repository_from_an_older_store_is_refused_at_build_time(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    data = tmp_path / "data"
    instance = f"e2e-sec-{uuid.uuid4().hex[:8]}"
    permissive = start(data, "--allow-local-repos", instance=instance)
    try:
        admin = register_admin(permissive)
        pid = create_project(admin, "Old store")["id"]
        sid, first = apply(admin, pid, "api", repo.url)
        assert settled(admin, pid, sid, first)["status"] == "healthy"
    finally:
        permissive.terminate()

    strict = start(data, instance=instance)  # the same store, without --allow-local-repos
    try:
        admin = login(strict, admin.email)
        with admin.client() as c:
            r = c.post(f"/projects/{pid}/services/{sid}/redeploy")
            assert r.status_code in (200, 201), r.text
            dep = settled(admin, pid, sid, r.json()["id"])
            assert dep["status"] == "failed"
            assert dep["failure_reason"] == f"build failed: git clone failed: the repository {LOCAL_REFUSED}."
            assert c.get(f"/projects/{pid}/services/{sid}").json()["source"]["repo_url"] == repo.url
            assert c.get(f"/projects/{pid}/services/{sid}/deployments/{first}").json()["status"] == "healthy"
    finally:
        strict.terminate(clean_engine=True)


def test_a_repository_cannot_jam_the_only_build_slot(tmp_path: Path) -> None:
    jammed = make_repo(tmp_path / "jammed")
    (jammed.path / ".dockerignore").symlink_to("/proc/kmsg")  # a read that never ends
    jammed.commit({}, "ignore through a symlink")
    sleeper = make_repo(tmp_path / "sleeper", "RUN sleep 600")
    fine = make_repo(tmp_path / "fine")
    daemon = start(tmp_path / "data", "--allow-local-repos", "--max-builds", "1", "--build-timeout", "5s")
    try:
        admin = register_admin(daemon)
        pid = create_project(admin, "Jam")["id"]
        deps = {name: apply(admin, pid, name, repo.url) for name, repo in
                (("jammed", jammed), ("sleeper", sleeper), ("fine", fine))}  # fmt: skip
        results = {name: settled(admin, pid, sid, dep_id) for name, (sid, dep_id) in deps.items()}
    finally:
        daemon.terminate(clean_engine=True)
    assert (results["jammed"]["status"], results["jammed"]["failure_reason"]) == (
        "failed",
        "build failed: docker build failed: .dockerignore is a symlink; it must be a regular file.",
    )
    assert (results["sleeper"]["status"], results["sleeper"]["failure_reason"]) == (
        "failed",
        "build failed: build timed out after 5 s",
    )
    assert results["fine"]["status"] == "healthy", results["fine"]
