"""Pull-request previews through the real daemon, a real Docker engine and a real Caddy.

A repository made with ``git init`` backs two git services. The providers' published payload
examples (``tests/payloads``), pointed at that repository's request branch and head commit, are
signed and delivered: a GitHub pull request gets a preview built from its head, served through
Caddy on ``pr-{number}-{service}-{project}.localhost`` with the preview scope's variables; a
second request beyond the limit is skipped with the reason; a new push replaces the preview
through the readiness gate while every request through Caddy keeps being answered; the preview
survives a daemon restart; closing the request removes its containers, images and route. A GitLab
merge request on a service with a volume is opened and merged: its volume goes too. A request into
another branch is ignored, and one retargeted there loses its preview; a fork's request is built
from the fork (a second local repository) only with ``previews_from_forks`` on; closing a request
while its preview builds stops the build; a service whose repository is private over SSH (a real
sshd) previews with its own deploy key and pinned host key.

The tests share one daemon and run in file order."""

from __future__ import annotations

import asyncio
import http.server
import json
import select
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builder.conftest import Repo, Sshd, host_key, run
from tests.conftest import TEST_IMAGE
from tests.e2e.support import UNSETTLED, Account, CanvasClient, Daemon, create_project, free_port, register_admin
from tests.e2e.test_build_security import host_address, settled
from tests.e2e.test_traffic import caddy_skip_reason, run_caddy
from tests.payloads import github_headers, github_pull_request, gitlab_headers, gitlab_merge_request
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.caddy, pytest.mark.slow]

PORT = 8080
DEPLOY_S = 120.0
DOCKERFILE = "\n".join(
    [
        f"FROM {TEST_IMAGE}",
        "COPY index.html /www/index.html",
        # The variable the preview scope sets, served as a file: what the preview's env was.
        f'CMD ["sh", "-c", "echo \\"$GREETING\\" > /www/env.txt; exec httpd -f -p {PORT} -h /www"]',
        "STOPSIGNAL SIGKILL",
        "",
    ]
)
HEALTH = {"type": "http", "path": "/", "interval_s": 0.5, "timeout_s": 0.5}


@dataclass
class World:
    daemon: Daemon
    admin: Account
    caddy_admin: str
    http_port: int
    project: dict[str, Any]
    repo: Repo
    site: str
    store: str

    def svc(self, service_id: str) -> str:
        return f"/projects/{self.project['id']}/services/{service_id}"

    def client(self) -> httpx.Client:
        return self.admin.client()

    def host(self, number: int, service: str) -> str:
        return f"pr-{number}-{service}-{self.project['slug']}.localhost"

    def through_caddy(self, host: str, path: str = "/") -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.http_port}{path}", headers={"Host": host}, timeout=5)

    def body(self, host: str, path: str = "/") -> str | None:
        try:
            r = self.through_caddy(host, path)
        except httpx.HTTPError:
            return None
        return r.text if r.status_code == 200 else None

    def caddy_config(self) -> str:
        return httpx.get(f"http://{self.caddy_admin}/config/", timeout=5).text

    def previews(self, service_id: str) -> list[dict[str, Any]]:
        with self.client() as c:
            r = c.get(f"{self.svc(service_id)}/previews")
            assert r.status_code == 200, r.text
            return list(r.json()["data"])

    def preview_settled(self, service_id: str, number: int, deployment_id: str) -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            found = [p for p in self.previews(service_id) if p["number"] == number]
            if found and found[0]["deployment_id"] == deployment_id and found[0]["status"] in ("healthy", "failed"):
                return found[0]
            return None

        preview = wait_for_sync(settled, within=DEPLOY_S, message=f"preview #{number} to settle", retry_on=UNSETTLED)
        if preview["status"] != "healthy":
            with self.client() as c:
                dep = c.get(f"{self.svc(preview['preview_service_id'])}/deployments/{deployment_id}").json()
            pytest.fail(f"preview #{number} failed: {dep['failure_reason']}\n{dep['log_tail']}")
        return preview


def canvas_state(w: World) -> dict[str, Any]:
    """What the canvas WebSocket shows of the project on connecting (nodes and edges)."""

    async def read() -> dict[str, Any]:
        async with CanvasClient(w.daemon, w.project["id"], w.admin.token) as canvas:
            return next(dict(m["payload"]) for m in canvas.received if m["type"] == "canvas:state")

    return asyncio.run(read())


def docker_ids(kind: str, label: str) -> list[str]:
    args = ["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []), "--filter", f"label={label}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.split()


def deploy_service(admin: Account, pid: str, body: dict[str, Any]) -> str:
    with admin.client() as c:
        r = c.post(f"/projects/{pid}/services", json=body)
        assert r.status_code == 200, r.text
        applied = c.post(f"/projects/{pid}/deploy")
        assert applied.status_code == 200, applied.text
        return str(applied.json()["temp_id_to_service_id"][r.json()["target_temp_id"]])


def wait_running(admin: Account, path: str) -> None:
    def running() -> bool:
        with admin.client() as c:
            status = c.get(path).json()["status"]
        assert status != "failed", f"{path} failed"
        return bool(status == "running")

    wait_for_sync(running, within=DEPLOY_S, message=f"{path} to run", retry_on=UNSETTLED)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    problem = caddy_skip_reason()
    if problem:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("previews")
    repo = Repo(root / "repo")
    repo.path.mkdir()
    run("git", "init", "-q", "-b", "master", str(repo.path))  # the examples' base branch
    repo.commit({"Dockerfile": DOCKERFILE, "index.html": "main version\n"}, "first version")
    caddy_admin, http_port = f"127.0.0.1:{free_port()}", free_port()
    caddy = run_caddy(root, caddy_admin)
    args = ["--reconcile-interval", "3s", "--allow-local-repos", "--instance-id", f"e2e-pr-{uuid.uuid4().hex[:8]}"]
    args += ["--caddy-admin", f"http://{caddy_admin}", "--http-port", str(http_port)]
    args += ["--https-port", str(free_port()), "--no-https-redirect"]
    daemon = Daemon(root / "data", docker=True, ingress=True, extra_args=args).start()
    try:
        admin = register_admin(daemon)
        project = create_project(admin, "Previews")
        pid = project["id"]
        git = {"type": "git", "repo_url": repo.url, "branch": "master"}
        site = deploy_service(admin, pid, {"name": "site", "source": git, "port": PORT, "health_check": HEALTH})
        store_body = {"name": "store", "source": git, "port": PORT, "health_check": HEALTH}
        store_body["volumes"] = [{"name": "data", "mount_path": "/data"}]
        store = deploy_service(admin, pid, store_body)
        w = World(daemon, admin, caddy_admin, http_port, project, repo, site, store)
        wait_running(admin, w.svc(site))
        wait_running(admin, w.svc(store))
        yield w
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate(clean_engine=True)
        caddy.terminate()
        caddy.wait(timeout=10)


def send_github(w: World, hook: dict[str, Any], action: str, number: int, sha: str, **kw: Any) -> dict[str, Any]:
    payload = github_pull_request(action, number=number, ref="changes", sha=sha, clone_url=w.repo.url, **kw)
    body = json.dumps(payload).encode()
    r = httpx.post(hook["url"], content=body, headers=github_headers(hook["secret"], body), timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_pull_request_runs_a_preview_served_through_caddy(world: World) -> None:
    with world.client() as c:
        hook = c.post(f"{world.svc(world.site)}/webhook", json={"provider": "github"}).json()
        off = send_github(world, hook, "opened", 2, "0" * 40)
        r = c.patch(f"{world.svc(world.site)}/webhook", json={"previews": True, "max_previews": 1})
        assert (r.json()["previews"], r.json()["max_previews"]) == (True, 1)
        r = c.put(f"{world.svc(world.site)}/previews/vars", json={"vars": {"GREETING": "hello from the preview"}})
        assert r.status_code == 200, r.text
    assert (off["status"], off["reason"]) == ("skipped", "Previews are off for this webhook.")

    run("git", "checkout", "-q", "-b", "changes", cwd=world.repo.path)
    sha = world.repo.commit({"index.html": "pull request version one\n"}, "the change")
    delivery = send_github(world, hook, "opened", 2, sha)
    assert (delivery["status"], delivery["preview_action"], delivery["preview_number"]) == ("success", "created", 2)
    assert (delivery["branch"], delivery["commit_sha"]) == ("changes", sha)
    host = world.host(2, "site")
    assert delivery["reason"] == f"Creating the preview of #2 from {sha[:12]} at {host}."
    preview = world.preview_settled(world.site, 2, delivery["deployment_id"])
    assert (preview["title"], preview["url"], preview["hostname"]) == (
        "Update the README with new information.",
        "https://github.com/Codertocat/Hello-World/pull/2",
        host,
    )
    body = wait_for_sync(lambda: world.body(host), within=30, message="the preview through Caddy", retry_on=UNSETTLED)
    assert body == "pull request version one\n"
    assert world.body(host, "/env.txt") == "hello from the preview\n"
    # The service itself is untouched, and its list has no preview in it.
    assert world.body(f"site-{world.project['slug']}.localhost") == "main version\n"
    with world.client() as c:
        names = [s["name"] for s in c.get(f"/projects/{world.project['id']}/services").json()["data"]]
    assert sorted(names) == ["site", "store"]
    assert preview["preview_service_id"] not in json.dumps(canvas_state(world))
    # Engine names no ordinary service can have.
    names = subprocess.run(
        [
            "docker",
            "ps",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=deploykit.service-id={preview['preview_service_id']}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert len(names) == 1
    assert "_pr-2--site_" in names[0]


def test_a_request_beyond_the_limit_is_skipped_with_the_reason(world: World) -> None:
    with world.client() as c:
        hook = c.get(f"{world.svc(world.site)}/webhook").json()
    sha = run("git", "rev-parse", "HEAD", cwd=world.repo.path).stdout.strip()
    delivery = send_github(world, hook, "opened", 3, sha, title="Another change")
    assert (delivery["status"], delivery["preview_action"]) == ("skipped", "skipped")
    assert delivery["reason"] == (
        "No preview for #3: the service already has 1 of at most 1 previews (#2); close one or raise the limit."
    )
    assert [p["number"] for p in world.previews(world.site)] == [2]


def test_a_new_push_replaces_the_preview_without_dropping_a_request(world: World) -> None:
    with world.client() as c:
        hook = c.get(f"{world.svc(world.site)}/webhook").json()
    host = world.host(2, "site")
    sha = world.repo.commit({"index.html": "pull request version two\n"}, "the change, reworked")
    delivery = send_github(world, hook, "synchronize", 2, sha)
    assert (delivery["status"], delivery["preview_action"]) == ("success", "updated")
    seen: list[str] = []

    def switched() -> bool:
        r = world.through_caddy(host)
        assert r.status_code == 200, f"a request was dropped during the switch: {r.status_code} {r.text!r}"
        seen.append(r.text)
        return r.text == "pull request version two\n"

    wait_for_sync(switched, within=DEPLOY_S, message="the preview to serve the new head", interval=0.1)
    assert set(seen) <= {"pull request version one\n", "pull request version two\n"}
    preview = world.preview_settled(world.site, 2, delivery["deployment_id"])
    assert preview["head_sha"] == sha
    with world.client() as c:
        deliveries = c.get(f"{world.svc(world.site)}/webhook/deliveries").json()["data"]
    assert [d["preview_action"] for d in deliveries[:4]] == ["updated", "skipped", "created", "skipped"]


def test_a_preview_survives_a_daemon_restart(world: World) -> None:
    before = world.previews(world.site)
    assert world.daemon.terminate() == 0
    world.daemon.start()
    assert world.previews(world.site) == before
    host = world.host(2, "site")
    body = wait_for_sync(lambda: world.body(host), within=30, message="the preview after a restart", retry_on=UNSETTLED)
    assert body == "pull request version two\n"
    # The replica of the replaced head (draining when the daemon stopped) is retired after it starts.
    label = f"deploykit.service-id={before[0]['preview_service_id']}"
    wait_for_sync(
        lambda: len(docker_ids("container", label)) == 1,
        within=60,
        message="one replica of the preview",
        retry_on=UNSETTLED,
    )


def test_closing_the_request_removes_its_containers_images_and_route(world: World) -> None:
    with world.client() as c:
        hook = c.get(f"{world.svc(world.site)}/webhook").json()
    [preview] = world.previews(world.site)
    hidden, host = preview["preview_service_id"], world.host(2, "site")
    label = f"deploykit.service-id={hidden}"
    # Built images carry no label: the preview's is the one its containers run.
    inspect = ["docker", "container", "inspect", "--format", "{{.Config.Image}}", *docker_ids("container", label)]
    (image,) = set(subprocess.run(inspect, capture_output=True, text=True, timeout=30).stdout.split())
    assert image.startswith("deploykit/"), image

    def image_gone() -> bool:
        args = ["docker", "image", "inspect", image]
        return subprocess.run(args, capture_output=True, timeout=30).returncode != 0

    assert not image_gone()
    assert host in world.caddy_config()
    delivery = send_github(world, hook, "closed", 2, preview["head_sha"])
    assert (delivery["status"], delivery["preview_action"]) == ("success", "removed")
    assert world.previews(world.site) == []
    wait_for_sync(
        lambda: not docker_ids("container", label) and image_gone(),
        within=60,
        message="the preview's containers and images to go",
        retry_on=UNSETTLED,
    )
    wait_for_sync(
        lambda: host not in world.caddy_config(), within=30, message="the preview's route to go", retry_on=UNSETTLED
    )
    assert world.body(host) != "pull request version two\n"
    assert world.body(f"site-{world.project['slug']}.localhost") == "main version\n"


def test_a_gitlab_merge_request_preview_goes_with_its_volume_when_merged(world: World) -> None:
    with world.client() as c:
        hook = c.post(f"{world.svc(world.store)}/webhook", json={"provider": "gitlab"}).json()
        c.patch(f"{world.svc(world.store)}/webhook", json={"previews": True})
    sha = run("git", "rev-parse", "HEAD", cwd=world.repo.path).stdout.strip()

    def send(action: str) -> dict[str, Any]:
        payload = gitlab_merge_request(action, iid=5, ref="changes", sha=sha, clone_url=world.repo.url)
        r = httpx.post(hook["url"], json=payload, headers=gitlab_headers(hook["secret"]), timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    opened = send("open")
    assert (opened["status"], opened["preview_action"], opened["message"]) == ("success", "created", "MS-Viewport")
    preview = world.preview_settled(world.store, 5, opened["deployment_id"])
    host = world.host(5, "store")
    body = wait_for_sync(lambda: world.body(host), within=30, message="the MR preview", retry_on=UNSETTLED)
    assert body == "pull request version two\n"
    label = f"deploykit.service-id={preview['preview_service_id']}"
    [volume] = docker_ids("volume", label)
    assert volume.endswith("_pr-5--store_data")
    assert world.body(f"store-{world.project['slug']}.localhost") == "main version\n"

    merged = send("merge")
    assert (merged["status"], merged["preview_action"]) == ("success", "removed")
    wait_for_sync(
        lambda: not any(docker_ids(kind, label) for kind in ("container", "volume", "image")),
        within=60,
        message="the MR preview's containers, volume and images to go",
        retry_on=UNSETTLED,
    )
    wait_for_sync(lambda: host not in world.caddy_config(), within=30, message="the MR route to go", retry_on=UNSETTLED)
    # The service's own volume stays.
    assert docker_ids("volume", f"deploykit.service-id={world.store}")


# --- requests that are not the service's own, retargets, closes during a build, SSH -------------


def deliveries(w: World, service_id: str) -> list[dict[str, Any]]:
    with w.client() as c:
        return list(c.get(f"{w.svc(service_id)}/webhook/deliveries").json()["data"])


def gone(w: World, service_id: str, service: str, preview: dict[str, Any]) -> None:
    """``preview`` (of ``service_id``, named ``service``) is not listed, and its containers,
    volumes, built images and route went."""
    hidden, number = preview["preview_service_id"], preview["number"]
    assert all(p["preview_service_id"] != hidden for p in w.previews(service_id))
    label = f"deploykit.service-id={hidden}"
    wait_for_sync(
        lambda: (
            not any(docker_ids(kind, label) for kind in ("container", "volume")) and not preview_images(number, service)
        ),
        within=60,
        message=f"the containers, volumes and images of #{number} to go",
        retry_on=UNSETTLED,
    )
    host = w.host(number, service)
    wait_for_sync(lambda: host not in w.caddy_config(), within=30, message="the route to go", retry_on=UNSETTLED)


def preview_images(number: int, service: str) -> list[str]:
    """Built images of request ``number``'s preview of ``service`` (named ``..._pr-N--service``)."""
    args = ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
    names = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.split()
    return [n for n in names if n.startswith("deploykit/") and f"_pr-{number}--{service}:" in n]


def test_a_request_into_another_branch_is_ignored_with_the_reason(world: World) -> None:
    with world.client() as c:
        hook = c.get(f"{world.svc(world.site)}/webhook").json()
        c.patch(f"{world.svc(world.site)}/webhook", json={"max_previews": 5})
    sha = run("git", "rev-parse", "HEAD", cwd=world.repo.path).stdout.strip()
    delivery = send_github(world, hook, "opened", 6, sha, base_ref="develop")
    assert (delivery["status"], delivery["preview_action"], delivery["reason"]) == (
        "skipped",
        "skipped",
        "#6 is a request into branch develop; the service deploys master, so no preview.",
    )
    assert world.previews(world.site) == []


def test_a_request_retargeted_to_another_branch_loses_its_preview(world: World) -> None:
    with world.client() as c:
        hook = c.get(f"{world.svc(world.site)}/webhook").json()
    sha = run("git", "rev-parse", "HEAD", cwd=world.repo.path).stdout.strip()
    opened = send_github(world, hook, "opened", 7, sha, title="Retargeted later")
    assert (opened["status"], opened["preview_action"]) == ("success", "created")
    preview = world.preview_settled(world.site, 7, opened["deployment_id"])
    host = world.host(7, "site")
    body = wait_for_sync(lambda: world.body(host), within=30, message="the preview of #7", retry_on=UNSETTLED)
    assert body == "pull request version two\n"

    # GitHub's "edited" with changes.base: the request now goes into develop.
    edited = send_github(world, hook, "edited", 7, sha, title="Retargeted later", base_ref="develop",
                         retargeted_from="master")  # fmt: skip
    assert (edited["status"], edited["preview_action"], edited["preview_number"]) == ("success", "removed", 7)
    assert edited["reason"] == (
        "#7 is a request into branch develop; the service deploys master, so no preview. "
        "Removing the preview of #7 (its containers, volumes, images and route)."
    )
    gone(world, world.site, "site", preview)
    # New commits to the retargeted request bring no preview back; the delivery says why.
    later = send_github(world, hook, "synchronize", 7, sha, title="Still into develop", base_ref="develop")
    assert (later["status"], later["preview_action"], later["reason"]) == (
        "skipped",
        "skipped",
        "#7 is a request into branch develop; the service deploys master, so no preview.",
    )
    assert world.previews(world.site) == []
    assert [d["preview_action"] for d in deliveries(world, world.site)[:3]] == ["skipped", "removed", "created"]


def test_a_fork_request_is_previewed_only_when_forks_are_allowed(world: World) -> None:
    fork = Repo(world.repo.path.parent / "fork")
    run("git", "clone", "-q", str(world.repo.path), str(fork.path))
    run("git", "checkout", "-q", "-b", "forked", cwd=fork.path)
    sha = fork.commit({"index.html": "a fork's version\n"}, "a change from a fork")
    with world.client() as c:
        hook = c.get(f"{world.svc(world.site)}/webhook").json()

    def send(action: str) -> dict[str, Any]:
        payload = github_pull_request(
            action, number=11, ref="forked", sha=sha, clone_url=world.repo.url, fork_url=fork.url, title="From a fork"
        )
        body = json.dumps(payload).encode()
        r = httpx.post(hook["url"], content=body, headers=github_headers(hook["secret"], body), timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    off = send("opened")
    assert (off["status"], off["preview_action"], off["reason"]) == (
        "skipped",
        "skipped",
        "Request from a fork (octocat/Hello-World): previews of forks are off for this webhook "
        "(previews_from_forks), since a fork's code would run with the preview variables.",
    )
    assert world.previews(world.site) == []

    with world.client() as c:
        r = c.patch(f"{world.svc(world.site)}/webhook", json={"previews_from_forks": True})
        assert r.json()["previews_from_forks"] is True
    on = send("reopened")
    assert (on["status"], on["preview_action"], on["commit_sha"]) == ("success", "created", sha)
    preview = world.preview_settled(world.site, 11, on["deployment_id"])
    host = world.host(11, "site")
    body = wait_for_sync(lambda: world.body(host), within=30, message="the fork's preview", retry_on=UNSETTLED)
    assert body == "a fork's version\n"
    assert world.body(host, "/env.txt") == "hello from the preview\n"
    assert world.body(f"site-{world.project['slug']}.localhost") == "main version\n"

    closed = send("closed")
    assert (closed["status"], closed["preview_action"]) == ("success", "removed")
    gone(world, world.site, "site", preview)
    with world.client() as c:
        c.patch(f"{world.svc(world.site)}/webhook", json={"previews_from_forks": False})


class Hold(http.server.BaseHTTPRequestHandler):
    """Answers ``GET /hold`` (a build step's) only when released; notes when the request came and
    whether its client went away before (the build was stopped)."""

    started: threading.Event
    dropped: threading.Event
    release: threading.Event

    def do_GET(self) -> None:
        self.started.set()
        while not self.release.wait(0.1):
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                self.dropped.set()
                return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_closing_a_request_while_its_preview_builds_stops_the_build(world: World) -> None:
    events = {name: threading.Event() for name in ("started", "dropped", "release")}
    handler = type("Held", (Hold,), events)
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run("git", "checkout", "-q", "-b", "slow", cwd=world.repo.path)
        step = f"RUN wget -q -O /dev/null http://{host_address()}:{server.server_address[1]}/hold"
        dockerfile = DOCKERFILE.replace(
            "COPY index.html /www/index.html\n", f"COPY index.html /www/index.html\n{step}\n"
        )
        sha = world.repo.commit({"Dockerfile": dockerfile}, "a build that waits")
        run("git", "checkout", "-q", "changes", cwd=world.repo.path)
        with world.client() as c:
            hook = c.get(f"{world.svc(world.site)}/webhook").json()
        payload = github_pull_request("opened", number=9, ref="slow", sha=sha, clone_url=world.repo.url)
        body = json.dumps(payload).encode()
        r = httpx.post(hook["url"], content=body, headers=github_headers(hook["secret"], body), timeout=10)
        opened = r.json()
        assert (opened["status"], opened["preview_action"]) == ("success", "created"), r.text
        assert events["started"].wait(DEPLOY_S), "the preview's build did not reach its waiting step"
        [preview] = [p for p in world.previews(world.site) if p["number"] == 9]
        assert preview["status"] == "building"

        payload = github_pull_request("closed", number=9, ref="slow", sha=sha, clone_url=world.repo.url)
        body = json.dumps(payload).encode()
        r = httpx.post(hook["url"], content=body, headers=github_headers(hook["secret"], body), timeout=10)
        assert (r.json()["status"], r.json()["preview_action"]) == ("success", "removed"), r.text
        # The build is stopped in the engine: its step's request goes away unanswered.
        assert events["dropped"].wait(60), "the preview's build went on after its request was closed"
    finally:
        events["release"].set()  # a build that was not stopped may finish now: the checks below see it
        server.shutdown()
        server.server_close()
    gone(world, world.site, "site", preview)
    assert [p["number"] for p in world.previews(world.site)] == []


@dataclass
class SshRepo:
    sshd: Sshd
    url: str
    work: Repo
    bare: Path


@pytest.fixture
def ssh_repo(tmp_path: Path) -> Iterator[SshRepo]:
    """The world's repository pushed to a bare one that a real sshd on loopback serves."""
    if shutil.which("/usr/sbin/sshd") is None:
        pytest.skip("no /usr/sbin/sshd (apt-get install openssh-server)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    server = Sshd(dir=tmp_path / "sshd", port=free_port(), authorized_keys=tmp_path / "sshd" / "authorized_keys")
    server.dir.mkdir()
    server.authorized_keys.write_text("")
    server.start(host_key(server.dir / "host_key_1"))
    work = Repo(tmp_path / "work")
    run("git", "init", "-q", "-b", "master", str(work.path))
    work.commit({"Dockerfile": DOCKERFILE, "index.html": "private main\n"}, "first version")
    bare = tmp_path / "private.git"
    run("git", "clone", "-q", "--bare", str(work.path), str(bare))
    run("git", "remote", "add", "origin", str(bare), cwd=work.path)
    try:
        yield SshRepo(server, server.url(bare), work, bare)
    finally:
        server.stop()


def test_a_preview_of_a_private_ssh_repository_clones_with_the_services_key_and_pinned_host(
    world: World, ssh_repo: SshRepo, tmp_path: Path
) -> None:
    pid = world.project["id"]
    git = {"type": "git", "repo_url": ssh_repo.url, "branch": "master"}
    with world.client() as c:
        r = c.post(f"/projects/{pid}/services", json={"name": "private", "source": git, "port": PORT,
                                                       "health_check": HEALTH})  # fmt: skip
        assert r.status_code == 200, r.text
        applied = c.post(f"/projects/{pid}/deploy")
        sid = str(applied.json()["temp_id_to_service_id"][r.json()["target_temp_id"]])
        # The service's own deploy key is the only one the repository lets in.
        key = c.get(f"{world.svc(sid)}/deploy-key").json()
    ssh_repo.sshd.authorized_keys.write_text(key["public_key"] + "\n")
    with world.client() as c:
        r = c.post(f"{world.svc(sid)}/redeploy")
        assert r.status_code in (200, 201), r.text
    dep = settled(world.admin, pid, sid, r.json()["id"])  # it pinned the server's host key
    assert dep["status"] == "healthy", dep["failure_reason"]

    run("git", "checkout", "-q", "-b", "private-change", cwd=ssh_repo.work.path)
    sha = ssh_repo.work.commit({"index.html": "private pull request\n"}, "a private change")
    run("git", "push", "-q", "origin", "private-change", cwd=ssh_repo.work.path)
    with world.client() as c:
        hook = c.post(f"{world.svc(sid)}/webhook", json={"provider": "github"}).json()
        c.patch(f"{world.svc(sid)}/webhook", json={"previews": True})

    def send(action: str) -> dict[str, Any]:
        payload = github_pull_request(action, number=4, ref="private-change", sha=sha, clone_url=ssh_repo.url)
        body = json.dumps(payload).encode()
        r = httpx.post(hook["url"], content=body, headers=github_headers(hook["secret"], body), timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    # The server now shows another host key: the preview's clone checks it against the host key
    # the service pinned, and refuses it (a preview with pins of its own would accept it).
    ssh_repo.sshd.start(host_key(tmp_path / "host_key_2"))
    refused = send("opened")
    assert (refused["status"], refused["preview_action"]) == ("success", "created")
    failed = wait_for_sync(
        lambda: next((p for p in world.previews(sid) if p["status"] == "failed"), None),
        within=DEPLOY_S,
        message="the preview's clone to be refused",
        retry_on=UNSETTLED,
    )
    with world.client() as c:
        dep = c.get(f"{world.svc(failed['preview_service_id'])}/deployments/{refused['deployment_id']}").json()
    assert failed["deployment_id"] == refused["deployment_id"]
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in (dep["log_tail"] or "") + (dep["failure_reason"] or ""), dep

    # The server's own host key again: the preview clones with the service's deploy key.
    ssh_repo.sshd.start(ssh_repo.sshd.dir / "host_key_1")
    again = send("reopened")
    assert (again["status"], again["preview_action"]) == ("success", "updated")
    preview = world.preview_settled(sid, 4, again["deployment_id"])
    host = world.host(4, "private")
    body = wait_for_sync(lambda: world.body(host), within=30, message="the private preview", retry_on=UNSETTLED)
    assert body == "private pull request\n"
    assert world.body(f"private-{world.project['slug']}.localhost") == "private main\n"
    closed = send("closed")
    assert (closed["status"], closed["preview_action"]) == ("success", "removed")
    gone(world, sid, "private", preview)

    # A fork's request is built from the fork, never with the service's deploy key: not even a
    # fork on the very server that lets that key in.
    fork = tmp_path / "fork.git"
    run("git", "clone", "-q", "--bare", str(ssh_repo.bare), str(fork))
    with world.client() as c:
        c.patch(f"{world.svc(sid)}/webhook", json={"previews_from_forks": True})
    payload = github_pull_request(
        "opened", number=5, ref="private-change", sha=sha, clone_url=ssh_repo.url, fork_url=ssh_repo.sshd.url(fork)
    )
    raw = json.dumps(payload).encode()
    r = httpx.post(hook["url"], content=raw, headers=github_headers(hook["secret"], raw), timeout=10)
    assert (r.json()["status"], r.json()["preview_action"]) == ("success", "created"), r.text
    fork_preview = wait_for_sync(
        lambda: next((p for p in world.previews(sid) if p["number"] == 5 and p["status"] == "failed"), None),
        within=DEPLOY_S,
        message="the fork's clone to be refused",
        retry_on=UNSETTLED,
    )
    with world.client() as c:
        dep = c.get(f"{world.svc(fork_preview['preview_service_id'])}/deployments/{r.json()['deployment_id']}").json()
    assert "Permission denied (publickey)" in (dep["log_tail"] or ""), dep
    payload = github_pull_request(
        "closed", number=5, ref="private-change", sha=sha, clone_url=ssh_repo.url, fork_url=ssh_repo.sshd.url(fork)
    )
    raw = json.dumps(payload).encode()
    r = httpx.post(hook["url"], content=raw, headers=github_headers(hook["secret"], raw), timeout=10)
    assert r.json()["preview_action"] == "removed", r.text
