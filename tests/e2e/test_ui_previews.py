"""Pull-request previews from the browser: in a git service's Settings, previews are turned on in
the webhook card, the limit and the preview variables set; a signed ``pull_request`` (GitHub's
published ``opened`` example, pointed at a local repository) then shows as a delivery that created
a preview, and the preview is listed with its number, title, link to the request, state and domain,
until it is removed from the card."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builder.conftest import run
from tests.e2e import ui_support as ui
from tests.e2e.support import instance_id_for, remove_engine_objects
from tests.e2e.test_git_deploy import first_version_repo
from tests.payloads import github_headers, github_pull_request

spa_built, playwright_instance, browser = ui.spa_built, ui.playwright_instance, ui.browser

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def daemon(spa_built: None) -> Iterator[ui.Daemon]:
    """A daemon that may clone a repository on this host (``--allow-local-repos``)."""
    with tempfile.TemporaryDirectory(prefix="dk-ui-pr-") as tmp:
        d = ui.start_daemon(Path(tmp), extra_args=["--allow-local-repos", "--no-ingress", "--reconcile-interval", "5s"])
        try:
            yield d
        finally:
            ui.stop_daemon(d)
            remove_engine_objects(instance_id_for(d.data_dir))


@ui.screenshot_on_failure
def test_previews_turned_on_in_the_ui_list_a_signed_pull_request(
    browser: Any, daemon: ui.Daemon, tmp_path: Path
) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    repo = first_version_repo(tmp_path / "repo")
    api = ui.Api(daemon.url)
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "previews ui"}, expect=201)
    pid = project["id"]
    staged = api.call(
        "POST",
        f"/projects/{pid}/services",
        {"name": "site", "source": {"type": "git", "repo_url": repo.url, "branch": "main"}, "port": 8080},
    )
    applied = api.call("POST", f"/projects/{pid}/deploy")
    sid = applied["temp_id_to_service_id"][staged["target_temp_id"]]
    svc = f"/projects/{pid}/services/{sid}"

    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    page.locator('[data-testid="service-node"][data-name="site"]').click()
    page.get_by_test_id("tab-settings").click()
    card = page.get_by_test_id("webhook-card")
    card.get_by_test_id("webhook-create-github").click()
    e(card).to_have_attribute("data-enabled", "true")

    # Previews on, at most 2, and a variable for them: each one is stored.
    previews = card.get_by_test_id("previews")
    e(previews).to_have_attribute("data-enabled", "false")
    previews.get_by_test_id("previews-toggle").click()  # checked once the server agrees
    e(previews).to_have_attribute("data-enabled", "true")
    previews.get_by_test_id("previews-max").fill("2")
    previews.get_by_test_id("previews-max-save").click()
    e(previews.get_by_test_id("previews-max-save")).to_be_disabled()
    hook = api.call("GET", f"{svc}/webhook")
    assert (hook["previews"], hook["max_previews"]) == (True, 2)
    previews.get_by_test_id("preview-vars-editor").locator("summary").click()
    previews.get_by_test_id("preview-vars").fill("GREETING=hello from a preview")
    previews.get_by_test_id("preview-vars-save").click()
    e(previews.get_by_test_id("preview-vars-save")).to_be_disabled()
    assert api.call("GET", f"{svc}/previews/vars") == {"vars": {"GREETING": "hello from a preview"}}
    e(previews.get_by_text("No previews running.")).to_be_visible()

    # A signed pull_request "opened" for a branch of the repository.
    run("git", "checkout", "-q", "-b", "changes", cwd=repo.path)
    sha = repo.commit({"index.html": "the pull request's version\n"}, "the change")
    payload = github_pull_request("opened", number=2, ref="changes", sha=sha, clone_url=repo.url, base_ref="main")
    body = json.dumps(payload).encode()
    url = card.get_by_test_id("webhook-url").inner_text()
    r = httpx.post(url, content=body, headers=github_headers(hook["secret"], body), timeout=10)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["preview_action"]) == ("success", "created")

    row = previews.get_by_test_id("preview")
    e(row).to_have_count(1)
    e(row).to_have_attribute("data-number", "2")
    link = row.get_by_test_id("preview-link")
    e(link).to_have_text("#2")
    e(link).to_have_attribute("href", "https://github.com/Codertocat/Hello-World/pull/2")
    e(row.get_by_test_id("preview-title")).to_have_text("Update the README with new information.")
    hostname = f"pr-2-site-{project['slug']}.localhost"
    e(row.get_by_test_id("preview-domain")).to_have_text(hostname)
    e(row.get_by_test_id("preview-domain")).to_have_attribute("href", f"https://{hostname}")
    e(row).to_have_attribute("data-status", "healthy", timeout=120_000)
    e(row.get_by_test_id("preview-status")).to_contain_text("healthy")

    delivery = card.get_by_test_id("delivery").first
    e(delivery).to_have_attribute("data-status", "success")
    e(delivery.get_by_test_id("delivery-event")).to_contain_text("pull_request")
    e(delivery.get_by_test_id("delivery-preview")).to_contain_text("#2 preview created")
    e(delivery.get_by_test_id("delivery-redeliver")).to_have_count(0)

    # The preview is not a service of the canvas.
    e(page.locator('[data-testid="service-node"]')).to_have_count(1)

    # Removed from the card: gone from the list and the API.
    row.get_by_test_id("preview-remove").click()
    e(previews.get_by_text("No previews running.")).to_be_visible()
    assert api.call("GET", f"{svc}/previews") == {"data": []}
