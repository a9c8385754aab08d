"""Deploy from git through the real daemon and a real Docker engine: a repository made with
``git init`` is staged as a service and built; push webhooks (GitHub, GitLab) deploy the pushed
commit; bad, foreign and repeated deliveries do nothing but say why; a failing build leaves the
previous deployment serving; the deploy key rotates.

The tests of this module share one daemon and one service and run in file order: each one starts
from what the previous left serving."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builder.conftest import Repo, run
from tests.conftest import TEST_IMAGE
from tests.e2e.support import UNSETTLED, Account, CanvasTap, Daemon, create_project, register_admin
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PORT = 8080
DEPLOY_S = 90.0


def dockerfile(*steps: str) -> str:
    return "\n".join(
        [
            f"FROM {TEST_IMAGE}",
            "COPY index.html /www/index.html",
            *steps,
            f'CMD ["httpd", "-f", "-p", "{PORT}", "-h", "/www"]',
            "STOPSIGNAL SIGKILL",  # httpd as PID 1 ignores SIGTERM: don't wait out the stop grace
            "",
        ]
    )


def first_version_repo(path: Path) -> Repo:
    """A git repository at ``path`` on branch main with one commit: a Dockerfile serving "version one"."""
    repo = Repo(path)
    run("git", "init", "-q", "-b", "main", str(repo.path))
    repo.commit({"Dockerfile": dockerfile(), "index.html": "version one\n"}, "first version")
    return repo


@dataclass
class World:
    daemon: Daemon
    admin: Account
    project_id: str
    service_id: str
    repo: Repo
    first: dict[str, Any]
    statuses: list[str] = field(default_factory=list)
    """The first deployment's statuses in the order they were seen."""

    @property
    def svc(self) -> str:
        return f"/projects/{self.project_id}/services/{self.service_id}"

    def client(self) -> httpx.Client:
        return self.admin.client()

    def deployments(self) -> list[dict[str, Any]]:
        with self.client() as c:
            r = c.get(f"{self.svc}/deployments", params={"limit": 100})
            assert r.status_code == 200, r.text
            return list(r.json()["data"])

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        with self.client() as c:
            r = c.get(f"{self.svc}/deployments/{deployment_id}")
            assert r.status_code == 200, r.text
            return dict(r.json())

    def settled(self, deployment_id: str) -> dict[str, Any]:
        """Wait until the deployment is healthy or failed; the deployment."""

        def settled() -> dict[str, Any] | None:
            d = self.deployment(deployment_id)
            return d if d["status"] in ("healthy", "failed") else None

        return wait_for_sync(
            settled, within=DEPLOY_S, message=f"deployment {deployment_id[:8]} to settle", retry_on=UNSETTLED
        )

    def deliveries(self) -> list[dict[str, Any]]:
        with self.client() as c:
            r = c.get(f"{self.svc}/webhook/deliveries")
            assert r.status_code == 200, r.text
            return list(r.json()["data"])

    def webhook(self, provider: str) -> dict[str, Any]:
        with self.client() as c:
            r = c.post(f"{self.svc}/webhook", json={"provider": provider})
            assert r.status_code == 201, r.text
            return dict(r.json())


def served(deployment_id: str) -> str:
    """What the deployment's container answers on ``/`` (asked at its IP, as a peer would)."""
    ids = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=deploykit.deployment-id={deployment_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert len(ids) == 1, f"deployment {deployment_id[:8]} runs {len(ids)} containers"
    inspect = json.loads(subprocess.run(["docker", "inspect", ids[0]], capture_output=True, timeout=30).stdout)
    networks = inspect[0]["NetworkSettings"]["Networks"]
    ip = next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))
    r = httpx.get(f"http://{ip}:{PORT}/", timeout=5)
    assert r.status_code == 200
    return r.text


def github_push(world: World, hook: dict[str, Any], sha: str, *, branch: str = "main", **over: Any) -> httpx.Response:
    body = json.dumps(
        {
            "ref": f"refs/heads/{branch}",
            "after": sha,
            "head_commit": {"id": sha, "message": over.pop("message", "a change"), "author": {"name": "Grace Hopper"}},
            "repository": {"clone_url": world.repo.url},
        }
    ).encode()
    secret = over.pop("secret", hook["secret"])
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": over.pop("event", "push"),
        "X-GitHub-Delivery": over.pop("delivery", str(uuid.uuid4())),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    assert not over
    return httpx.post(hook["url"], content=body, headers=headers, timeout=10)


def containers_of(project_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=deploykit.project-id={project_id}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A daemon with Docker, and a git service deployed from a ``file://`` repository."""
    root = tmp_path_factory.mktemp("git-deploy")
    repo = Repo(root / "repo")
    repo.path.mkdir()
    run("git", "init", "-q", "-b", "main", str(repo.path))
    first_sha = repo.commit(
        {
            # Unique to this run: a cached step prints nothing, and the engine keeps the build cache of
            # earlier runs and of other daemons building the same files (parallel suites).
            "Dockerfile": dockerfile(f"RUN echo built-from-git-marker {uuid.uuid4().hex}"),
            "index.html": "version one\n",
        },
        "first version",
    )
    # An instance id of its own: other daemons on this engine (parallel suites) leave its containers alone.
    args = [
        "--reconcile-interval",
        "5s",
        "--no-ingress",
        "--allow-local-repos",
        "--instance-id",
        f"e2e-git-{uuid.uuid4().hex[:8]}",
    ]
    daemon = Daemon(root / "data", docker=True, extra_args=args).start()
    admin = register_admin(daemon)
    pid = create_project(admin, "Git Shop")["id"]
    try:
        with CanvasTap(daemon, pid, admin.token) as tap, admin.client() as c:
            body = {
                "name": "site",
                "source": {"type": "git", "repo_url": repo.url, "branch": "main"},
                "port": PORT,
                "health_check": {"type": "http", "path": "/", "interval_s": 0.5, "timeout_s": 0.5},
            }
            r = c.post(f"/projects/{pid}/services", json=body)
            assert r.status_code == 200, r.text
            applied = c.post(f"/projects/{pid}/deploy")
            assert applied.status_code == 200, applied.text
            sid = applied.json()["temp_id_to_service_id"][r.json()["target_temp_id"]]
            w = World(daemon, admin, pid, sid, repo, {})
            dep_id = wait_for_sync(
                lambda: [d["id"] for d in w.deployments()],
                within=10,
                message="the first deployment",
                retry_on=UNSETTLED,
            )[0]
            w.first = w.settled(dep_id)

            # Every status the deployment went through, as the canvas heard them.
            def heard() -> list[str] | None:
                seen = tap.statuses(dep_id)
                return seen if seen and seen[-1] in ("healthy", "failed") else None

            w.statuses = wait_for_sync(
                heard, within=10, message="the canvas to hear the deployment settle", retry_on=UNSETTLED
            )
        assert w.first["commit_sha"] == first_sha, w.first
        yield w
    finally:
        with admin.client() as c:
            c.delete(f"/projects/{pid}")
        wait_for_sync(
            lambda: containers_of(pid) == [],
            within=60,
            message="the project's containers to be removed",
            retry_on=UNSETTLED,
        )
        daemon.terminate(clean_engine=True)


def test_a_git_service_builds_and_serves_the_repository(world: World) -> None:
    assert world.first["status"] == "healthy", (world.first["failure_reason"], world.first["log_tail"])
    seen = [s for s in world.statuses if s not in ("created", "pending")]
    assert seen == ["building", "starting", "healthy"], world.statuses
    assert world.first["commit_message"] == "first version"
    repository, _, tag = world.first["image"].partition(":")
    # The installation's own namespace (the daemon runs with --instance-id e2e-git-...).
    assert repository.startswith("deploykit/e2e-git-"), world.first["image"]
    assert repository.split("/")[2].startswith("git-shop-"), world.first["image"]
    assert repository.endswith("_site"), world.first["image"]
    assert tag == world.first["id"].replace("-", "")[:12]
    assert served(world.first["id"]) == "version one\n"

    with world.client() as c:
        r = c.get(f"{world.svc}/deployments/{world.first['id']}/logs")
    assert r.status_code == 200, r.text
    log = r.json()["log"]
    assert "built-from-git-marker" in log
    assert "COPY index.html /www/index.html" in log


def test_a_signed_github_push_deploys_the_pushed_commit(world: World) -> None:
    hook = world.webhook("github")
    assert hook["url"] == f"{world.daemon.base}/api/webhooks/github/{hook['id']}"
    assert len(hook["secret"]) >= 32
    with world.client() as c:
        assert c.get(f"{world.svc}/webhook").json() == hook

    ping = httpx.post(
        hook["url"],
        content=b"{}",
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "ping-1",
            "X-Hub-Signature-256": "sha256=" + hmac.new(hook["secret"].encode(), b"{}", hashlib.sha256).hexdigest(),
        },
    )
    assert (ping.status_code, ping.json()["status"], ping.json()["reason"]) == (200, "success", "Pong.")

    sha = world.repo.commit({"index.html": "version two\n"}, "second version")
    r = github_push(world, hook, sha, message="second version")
    assert r.status_code == 200, r.text
    delivery = r.json()
    assert (delivery["status"], delivery["commit_sha"], delivery["branch"]) == ("success", sha, "main")
    dep_id = delivery["deployment_id"]

    # The deployment's log while it builds: an event stream (or, if it already finished, the stored log).
    lines: list[str] = []
    url = f"{world.daemon.base}/api{world.svc}/deployments/{dep_id}/logs"
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {world.admin.token}"}, timeout=DEPLOY_S) as s:
        if s.headers["content-type"].startswith("text/event-stream"):
            events = [json.loads(x[6:]) for x in s.iter_lines() if x.startswith("data: {")]
            lines = [e["line"] for e in events if "line" in e]
        else:
            lines = json.loads(s.read())["log"].splitlines()
    assert any("built-from-git-marker" in line for line in lines), lines

    dep = world.settled(dep_id)
    assert (dep["status"], dep["commit_sha"], dep["commit_message"]) == ("healthy", sha, "second version")
    assert served(dep_id) == "version two\n"
    assert world.deliveries()[0]["deployment_id"] == dep_id


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("wrong signature", 401, "The signature does not match the webhook's secret."),
        ("another branch", 200, "Push to branch feature; the service deploys main."),
        ("repeated delivery", 200, "Delivery {key} was already received; nothing done."),
    ],
)
def test_a_delivery_that_must_not_deploy_only_records_why(world: World, case: str, status: int, reason: str) -> None:
    hook = world.webhook("github")
    sha = world.repo.commit({"index.html": f"not deployed: {case}\n"}, case)
    key = str(uuid.uuid4())
    if case == "repeated delivery":
        # The original is for another branch (nothing to deploy); its redelivery must not act again.
        assert github_push(world, hook, sha, branch="feature", delivery=key).json()["status"] == "skipped"
    before = len(world.deployments())

    if case == "wrong signature":
        r = github_push(world, hook, sha, delivery=key, secret="not-the-secret")
    elif case == "another branch":
        r = github_push(world, hook, sha, branch="feature", delivery=key)
    else:
        r = github_push(world, hook, sha, branch="main", delivery=key)

    assert r.status_code == status, r.text
    latest = world.deliveries()[0]
    expected_status = "failed" if status == 401 else "skipped"
    assert (latest["status"], latest["reason"], latest["deployment_id"]) == (
        expected_status,
        reason.format(key=key),
        None,
    )
    assert len(world.deployments()) == before
    if status == 401:
        assert r.json()["error"] == "unauthorized"


def test_a_body_over_the_limit_is_refused(world: World) -> None:
    hook = world.webhook("github")
    r = httpx.post(hook["url"], content=b"x" * (1024 * 1024 + 1), headers={"X-GitHub-Event": "push"}, timeout=10)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


def test_a_gitlab_push_deploys_the_pushed_commit(world: World) -> None:
    hook = world.webhook("gitlab")
    assert hook["url"] == f"{world.daemon.base}/api/webhooks/gitlab/{hook['id']}"
    sha = world.repo.commit({"index.html": "version three\n"}, "third version")
    body = {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "checkout_sha": sha,
        "user_name": "Grace Hopper",
        "commits": [{"id": sha, "message": "third version", "author": {"name": "Grace Hopper"}}],
    }
    bad = httpx.post(hook["url"], json=body, headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"})
    assert bad.status_code == 401
    r = httpx.post(hook["url"], json=body, headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hook["secret"]})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["author"]) == ("success", "Grace Hopper")
    dep = world.settled(r.json()["deployment_id"])
    assert (dep["status"], dep["commit_sha"]) == ("healthy", sha)
    assert served(dep["id"]) == "version three\n"


def test_a_failing_build_step_fails_the_deployment_and_the_previous_one_keeps_serving(world: World) -> None:
    serving = next(d for d in world.deployments() if d["status"] == "healthy")
    hook = world.webhook("github")
    sha = world.repo.commit(
        {"Dockerfile": dockerfile("RUN echo the-step-that-fails && exit 3"), "index.html": "never served\n"},
        "broken build",
    )
    r = github_push(world, hook, sha, message="broken build")
    assert r.json()["status"] == "success", r.text
    dep = world.settled(r.json()["deployment_id"])
    assert dep["status"] == "failed"
    assert dep["failure_reason"].startswith("build failed"), dep
    with world.client() as c:
        log = c.get(f"{world.svc}/deployments/{dep['id']}/logs").json()["log"]
    assert "the-step-that-fails" in log
    assert "the-step-that-fails" in (dep["log_tail"] or dep["failure_reason"])
    assert world.deployment(serving["id"])["status"] == "healthy"
    assert served(serving["id"]) == "version three\n"


def test_the_deploy_key_is_created_on_first_use_and_rotates(world: World) -> None:
    with world.client() as c:
        first = c.get(f"{world.svc}/deploy-key")
        assert first.status_code == 200, first.text
        assert c.get(f"{world.svc}/deploy-key").json() == first.json()
        rotated = c.post(f"{world.svc}/deploy-key")
        assert rotated.status_code == 200, rotated.text
        assert c.get(f"{world.svc}/deploy-key").json() == rotated.json()
    assert first.json()["public_key"].startswith("ssh-ed25519 ")
    assert rotated.json()["public_key"] != first.json()["public_key"]
    assert rotated.json()["fingerprint"].startswith("SHA256:")
    assert set(rotated.json()) == {"public_key", "fingerprint"}
    assert "PRIVATE" not in first.text + rotated.text


def test_a_replayed_push_is_skipped_and_cannot_roll_the_service_back(world: World) -> None:
    hook = world.webhook("github")
    # A working Dockerfile again: an earlier test leaves a failing one on the branch.
    older = world.repo.commit({"Dockerfile": dockerfile(), "index.html": "replay one\n"}, "replay one")
    key = str(uuid.uuid4())
    first = github_push(world, hook, older, message="replay one", delivery=key)
    assert first.json()["status"] == "success", first.text
    assert world.settled(first.json()["deployment_id"])["status"] == "healthy"
    newer = world.repo.commit({"index.html": "replay two\n"}, "replay two")
    second = github_push(world, hook, newer, message="replay two")
    assert second.json()["status"] == "success", second.text
    # A different body for the commit being deployed: nothing new to do.
    again = github_push(world, hook, newer, message="replay two, pushed again").json()
    assert again["status"] == "skipped"
    assert re.fullmatch(
        rf"Commit {newer[:12]} is already the service's (in-flight|active) deployment; nothing done\.", again["reason"]
    )
    assert again["deployment_id"] == second.json()["deployment_id"]
    serving = world.settled(second.json()["deployment_id"])
    assert serving["status"] == "healthy"
    before = len(world.deployments())

    # The captured first delivery re-sent with a fresh id, and with none: the same signed body.
    for delivery in (str(uuid.uuid4()), ""):
        r = github_push(world, hook, older, message="replay one", delivery=delivery)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["reason"], r.json()["deployment_id"]) == (
            "skipped",
            f"The same body was received before (delivery {key}); a replay, nothing done.",
            None,
        )
    assert world.deliveries()[0]["reason"].startswith("The same body was received before")
    assert len(world.deployments()) == before
    assert world.deployment(serving["id"])["status"] == "healthy"
    assert served(serving["id"]) == "replay two\n"


def images_of(repository: str) -> set[str]:
    out = subprocess.run(
        ["docker", "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", repository],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return set(out.stdout.split("\n")) - {""}


def test_a_change_of_health_check_replicas_or_env_reuses_the_built_image(world: World) -> None:
    with world.client() as c:
        service = c.get(world.svc).json()
    running = world.deployment(service["active_deployment_id"])
    assert running["status"] == "healthy"
    repository = running["image"].partition(":")[0]
    images = images_of(repository)
    page = served(running["id"])
    check = {**service["health_check"], "interval_s": 1.0, "healthy_threshold": 2}

    with world.client() as c:
        staged = [
            c.patch(world.svc, json={"health_check": check, "resources": {"cpus": 0.5, "memory_mb": 256}}),
            c.post(f"{world.svc}/env-vars", json={"key": "GREETING", "value": "hi"}),
        ]
        assert [r.status_code for r in staged] == [200, 200], [r.text for r in staged]
        applied = c.post(f"/projects/{world.project_id}/deploy")
        assert applied.status_code == 200, applied.text
    [dep_id] = applied.json()["created_deployments"]
    dep = world.settled(dep_id)
    assert dep["status"] == "healthy", (dep["failure_reason"], dep["log_tail"])
    # The running commit's image, started as it is: no build ran, no image was made.
    assert (dep["image"], dep["commit_sha"]) == (running["image"], running["commit_sha"])
    assert (dep["health_check"]["healthy_threshold"], dep["env_vars"]) == (2, {"GREETING": "hi"})
    with world.client() as c:
        log = c.get(f"{world.svc}/deployments/{dep_id}/logs").json()["log"]
    assert "COPY index.html" not in log, log
    assert images_of(repository) == images
    assert served(dep_id) == page

    # A change to the build settings builds again.
    with world.client() as c:
        source = {**service["source"], "repo_url": world.repo.url, "dockerfile_path": "./Dockerfile"}
        assert c.patch(world.svc, json={"source": source}).status_code == 200
        applied = c.post(f"/projects/{world.project_id}/deploy")
    [rebuilt_id] = applied.json()["created_deployments"]
    rebuilt = world.settled(rebuilt_id)
    assert rebuilt["status"] == "healthy", (rebuilt["failure_reason"], rebuilt["log_tail"])
    assert rebuilt["image"] != running["image"]
    with world.client() as c:
        assert "COPY index.html" in c.get(f"{world.svc}/deployments/{rebuilt_id}/logs").json()["log"]
