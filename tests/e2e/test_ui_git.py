"""Push to deploy set up from the browser: a git service's Settings create its GitHub webhook, a
signed push to the repository's branch shows as a delivery that deployed, and the new deployment
of the pushed commit appears in the Deployments tab. The deploy key card shows the service's key."""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builder.conftest import run
from tests.e2e import ui_support as ui
from tests.e2e.support import instance_id_for, remove_engine_objects
from tests.e2e.test_git_deploy import first_version_repo
from tests.wait import wait_for_sync

spa_built, playwright_instance, browser = ui.spa_built, ui.playwright_instance, ui.browser

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def daemon(spa_built: None) -> Iterator[ui.Daemon]:
    """A daemon that may clone a repository on this host (``--allow-local-repos``)."""
    with tempfile.TemporaryDirectory(prefix="dk-ui-git-") as tmp:
        d = ui.start_daemon(Path(tmp), extra_args=["--allow-local-repos", "--no-ingress", "--reconcile-interval", "5s"])
        try:
            yield d
        finally:
            ui.stop_daemon(d)
            remove_engine_objects(instance_id_for(d.data_dir))


def settled(api: ui.Api, svc: str, deployment_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        dep: dict[str, Any] = api.call("GET", f"{svc}/deployments/{deployment_id}")
        return dep if dep["status"] in ("healthy", "failed") else None

    return wait_for_sync(done, within=120, message=f"deployment {deployment_id[:8]} to settle")


def signed_push(hook: dict[str, str], sha: str, message: str) -> httpx.Response:
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": sha,
            "head_commit": {"id": sha, "message": message, "author": {"name": "Ada"}},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest(),
    }
    return httpx.post(hook["url"], content=body, headers=headers, timeout=10)


@ui.screenshot_on_failure
def test_a_webhook_set_up_in_the_ui_deploys_a_signed_push(browser: Any, daemon: ui.Daemon, tmp_path: Path) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    repo = first_version_repo(tmp_path / "repo")
    api = ui.Api(daemon.url)
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "git ui"}, expect=201)
    pid = project["id"]
    staged = api.call(
        "POST",
        f"/projects/{pid}/services",
        {"name": "site", "source": {"type": "git", "repo_url": repo.url, "branch": "main"}, "port": 8080},
    )
    applied = api.call("POST", f"/projects/{pid}/deploy")
    sid = applied["temp_id_to_service_id"][staged["target_temp_id"]]
    svc = f"/projects/{pid}/services/{sid}"
    first = wait_for_sync(
        lambda: api.call("GET", f"{svc}/deployments?limit=5")["data"], within=10, message="the first deployment"
    )[0]
    assert settled(api, svc, first["id"])["status"] == "healthy"

    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    page.locator('[data-testid="service-node"][data-name="site"]').click()
    page.get_by_test_id("tab-settings").click()
    e(page.get_by_test_id("svc-repo_url")).to_have_value(repo.url)

    # The deploy key card shows the key the API hands out.
    key = api.call("GET", f"{svc}/deploy-key")
    e(page.get_by_test_id("deploy-key-fingerprint")).to_have_text(key["fingerprint"])
    e(page.get_by_test_id("deploy-key-public")).to_have_attribute("data-value", key["public_key"])

    # Create the GitHub webhook: its URL and secret are shown, the secret hidden until asked.
    card = page.get_by_test_id("webhook-card")
    e(card.get_by_test_id("webhook-none")).to_be_visible()
    card.get_by_test_id("webhook-create-github").click()
    e(card).to_have_attribute("data-enabled", "true")
    hook = api.call("GET", f"{svc}/webhook")
    e(card.get_by_test_id("webhook-url")).to_have_text(hook["url"])
    e(card.get_by_test_id("webhook-secret")).not_to_contain_text(hook["secret"])
    card.get_by_test_id("webhook-secret-reveal").click()
    e(card.get_by_test_id("webhook-secret")).to_have_text(hook["secret"])
    e(card.get_by_text("Nothing received yet.")).to_be_visible()

    # Disable and enable again from the card; then a signed push deploys its commit.
    card.get_by_test_id("webhook-toggle").click()
    e(card).to_have_attribute("data-enabled", "false")
    assert api.call("GET", f"{svc}/webhook")["enabled"] is False
    card.get_by_test_id("webhook-toggle").click()
    e(card).to_have_attribute("data-enabled", "true")

    sha = repo.commit({"index.html": "version two\n"}, "second version")
    r = signed_push(
        {"url": card.get_by_test_id("webhook-url").inner_text(), "secret": hook["secret"]}, sha, "second version"
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success", r.json()
    deployment_id = r.json()["deployment_id"]

    row = card.get_by_test_id("delivery").first
    e(row).to_have_attribute("data-status", "success")
    e(row.get_by_test_id("delivery-event")).to_contain_text("push")
    e(row.get_by_test_id("delivery-branch")).to_have_text("main")
    e(row.get_by_test_id("delivery-commit")).to_have_text(sha[:7])
    e(row.get_by_test_id("delivery-reason")).to_have_text(f"Deploying {sha[:12]}.")
    e(row.get_by_test_id("delivery-deployment")).to_have_text(deployment_id[:8])

    page.get_by_test_id("tab-deployments").click()
    new = page.locator(f'[data-testid="deployment"][data-id="{deployment_id}"]')
    e(new).to_be_visible()
    e(new).to_contain_text(sha[:7])
    assert settled(api, svc, deployment_id)["commit_sha"] == sha
    e(new).to_have_attribute("data-role", "active", timeout=30_000)

    # Redeliver from the list: the commit is active now, so the new delivery says so and deploys nothing.
    page.get_by_test_id("tab-settings").click()
    card.get_by_test_id("delivery-redeliver").first.click()
    e(card.get_by_test_id("delivery")).to_have_count(2)
    again = card.get_by_test_id("delivery").first
    e(again).to_have_attribute("data-status", "skipped")
    e(again.get_by_test_id("delivery-reason")).to_have_text(
        f"Commit {sha[:12]} is already the service's active deployment; nothing done."
    )
    assert len(api.call("GET", f"{svc}/deployments?limit=10")["data"]) == 2


def image_id(ref: str) -> str:
    return run("docker", "image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def running_image_ids(deployment_id: str) -> set[str]:
    """The image ids the deployment's containers run, as Docker says."""
    ids = run("docker", "ps", "-q", "--filter", f"label=deploykit.deployment-id={deployment_id}").stdout.split()
    assert ids, f"no running container of deployment {deployment_id[:8]}"
    return {run("docker", "inspect", "-f", "{{.Image}}", c).stdout.strip() for c in ids}


def deploy_from_settings(page: Any, fields: dict[str, str]) -> None:
    e = ui.expect()
    page.get_by_test_id("tab-settings").click()
    for testid, value in fields.items():
        page.get_by_test_id(testid).fill(value)
    page.get_by_test_id("settings-save").click()
    e(page.get_by_test_id("toast-success").filter(has_text="Settings staged").last).to_be_visible()
    page.get_by_test_id("pending-deploy").click()
    e(page.get_by_test_id("toast-info").filter(has_text="Applied").last).to_be_visible()


def build_log(page: Any, deployment_id: str) -> Any:
    """Open the deployment card's log; its element."""
    page.get_by_test_id("tab-deployments").click()
    card = page.locator(f'[data-testid="deployment"][data-id="{deployment_id}"]')
    card.get_by_test_id("deployment-log-toggle").click()
    return card.get_by_test_id("deployment-log")


@ui.screenshot_on_failure
def test_a_settings_only_change_reuses_the_image_and_a_build_change_rebuilds(
    browser: Any, daemon: ui.Daemon, tmp_path: Path
) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    repo = first_version_repo(tmp_path / "repo")
    api = ui.Api(daemon.url)
    api.register("Ada Admin", "ada@example.com")
    pid = api.call("POST", "/projects", {"name": "reuse"}, expect=201)["id"]
    body = {
        "name": "site",
        "source": {"type": "git", "repo_url": repo.url, "branch": "main"},
        "port": 8080,
        "health_check": {"type": "http", "path": "/", "interval_s": 1, "timeout_s": 1},
    }
    staged = api.call("POST", f"/projects/{pid}/services", body)
    applied = api.call("POST", f"/projects/{pid}/deploy")
    sid = applied["temp_id_to_service_id"][staged["target_temp_id"]]
    svc = f"/projects/{pid}/services/{sid}"
    [first_id] = applied["created_deployments"]
    first = settled(api, svc, first_id)
    assert first["status"] == "healthy", (first["failure_reason"], first["log_tail"])
    built = image_id(first["image"])

    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    page.locator('[data-testid="service-node"][data-name="site"]').click()
    e(build_log(page, first_id)).to_contain_text("COPY index.html", timeout=30_000)

    # Replicas and the health check's interval only: the running commit's image starts as it is.
    deploy_from_settings(page, {"svc-replicas": "2", "svc-hcInterval": "2"})
    reused_id = wait_for_sync(
        lambda: next(
            (d["id"] for d in api.call("GET", f"{svc}/deployments?limit=5")["data"] if d["id"] != first_id), None
        ),
        within=30,
        message="the settings' deployment",
    )
    reused = settled(api, svc, reused_id)
    assert reused["status"] == "healthy", (reused["failure_reason"], reused["log_tail"])
    assert (reused["image"], reused["commit_sha"], reused["replicas"]) == (first["image"], first["commit_sha"], 2)
    assert running_image_ids(reused_id) == {built}
    log = build_log(page, reused_id)
    e(log).to_be_visible()
    e(log).not_to_contain_text("COPY index.html")
    e(page.locator(f'[data-testid="deployment"][data-id="{reused_id}"]')).to_have_attribute("data-role", "active")

    # The Dockerfile's path is a build setting: that builds again, into a new image.
    deploy_from_settings(page, {"svc-dockerfile_path": "./Dockerfile"})
    rebuilt_id = wait_for_sync(
        lambda: next(
            (
                d["id"]
                for d in api.call("GET", f"{svc}/deployments?limit=5")["data"]
                if d["id"] not in (first_id, reused_id)
            ),
            None,
        ),
        within=30,
        message="the rebuild's deployment",
    )
    rebuilt = settled(api, svc, rebuilt_id)
    assert rebuilt["status"] == "healthy", (rebuilt["failure_reason"], rebuilt["log_tail"])
    assert rebuilt["image"] != first["image"]
    assert running_image_ids(rebuilt_id) == {image_id(rebuilt["image"])}
    e(build_log(page, rebuilt_id)).to_contain_text("COPY index.html", timeout=30_000)
