"""Variables in the UI: editing at project and service scope (a changed key is staged once, no
"already exists"), a staged service's variables before its first deploy, a .env paste with a
preview, values masked everywhere until revealed, and a reference to no service warned about when
staging and at Deploy while a reference to another service's variable deploys resolved."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import ui_support as ui

spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.docker]


@ui.screenshot_on_failure
def test_variables_edit_mask_bulk_and_reference_warnings(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    pid = api.call("POST", "/projects", {"name": "vars"}, expect=201)["id"]
    svc = {"source": {"type": "image", "image": ui.TEST_IMAGE}, "port": 8080, "position_y": 40}
    created = api.call("POST", f"/projects/{pid}/services", {"name": "api", **svc, "position_x": 40})
    api.call("POST", f"/projects/{pid}/services/{created['target_temp_id']}/env-vars/edit", {"values": {"LOG": "info"}})
    api.call("POST", f"/projects/{pid}/env-vars/edit", {"values": {"TOKEN": "s3cret-one"}})
    api.call("POST", f"/projects/{pid}/deploy")
    page = ui.new_page(browser)

    # Project Settings: values masked until revealed; changing a key stages one update.
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}/settings")
    row = page.locator('[data-testid="project-env-row"][data-key="TOKEN"]')
    e(row).to_have_count(1)
    e(row).not_to_contain_text("s3cret-one")
    page.get_by_test_id("project-env-reveal").check()
    e(row).to_contain_text("s3cret-one")
    page.get_by_test_id("project-env-key").fill("TOKEN")
    page.get_by_test_id("project-env-value").fill("s3cret-two")
    page.get_by_test_id("project-env-add").click()
    e(row.get_by_test_id("project-env-staged")).to_contain_text("changed")
    # Removing it then adding it again still shows the key once, as changed.
    row.get_by_test_id("project-env-remove").click()
    e(row.get_by_test_id("project-env-staged")).to_contain_text("removed")
    page.get_by_test_id("project-env-key").fill("TOKEN")
    page.get_by_test_id("project-env-value").fill("s3cret-three")
    page.get_by_test_id("project-env-add").click()
    e(row.get_by_test_id("project-env-staged")).to_contain_text("changed")
    e(row).to_have_count(1)
    e(row).to_contain_text("s3cret-three")
    assert len(api.call("GET", f"/projects/{pid}/pending-changes")["data"]) == 1

    # A staged service takes variables before its first deploy, one by one and as .env.
    staged = api.call("POST", f"/projects/{pid}/services", {"name": "worker", **svc, "position_x": 420})
    page.goto(f"{daemon.url}/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    page.locator('[data-testid="service-node"][data-name="worker"]').click()
    panel = page.get_by_test_id("service-panel")
    e(panel).to_contain_text("Creating on deploy")
    panel.get_by_test_id("env-key").fill("GHOST")
    panel.get_by_test_id("env-value").fill("${{nosuch.HOST}}")
    panel.get_by_test_id("env-add").click()
    ghost = panel.locator('[data-testid="env-row"][data-key="GHOST"]')
    e(ghost.get_by_test_id("env-problem")).to_contain_text("no service is named 'nosuch'")
    panel.get_by_test_id("env-bulk").click()
    dialog = page.get_by_test_id("env-bulk-dialog")
    dialog.get_by_test_id("env-bulk-text").fill(
        'GHOST=${{nosuch.HOST}}\nexport DB_LOG="${{api.LOG}}"\n# comment\nGREETING="hello world"\n'
    )
    dialog.get_by_test_id("env-bulk-preview-btn").click()
    e(dialog.get_by_test_id("env-bulk-edit")).to_have_count(2)
    e(dialog.locator('[data-testid="env-bulk-edit"][data-key="DB_LOG"]')).to_have_attribute("data-op", "added")
    e(dialog.get_by_test_id("env-bulk-preview")).not_to_contain_text("hello world")
    dialog.get_by_test_id("env-bulk-stage").click()
    e(dialog).to_be_hidden()
    db_log = panel.locator('[data-testid="env-row"][data-key="DB_LOG"]')
    panel.get_by_test_id("env-reveal").check()
    e(db_log.get_by_test_id("env-resolved")).to_contain_text("info")

    # The diff masks values until revealed, and Deploy warns about the reference to no service.
    page.get_by_test_id("pending-toggle").click()
    diff = page.get_by_test_id("pending-diff")
    e(diff.locator('[data-testid="diff-env"][data-key="GREETING"]')).to_be_visible()
    e(diff).not_to_contain_text("hello world")
    page.get_by_test_id("pending-reveal").check()
    e(diff).to_contain_text("hello world")
    e(page.get_by_test_id("pending-problems")).to_contain_text("1 reference")
    page.get_by_test_id("pending-deploy").click()
    e(page.get_by_test_id("deploy-problems")).to_contain_text("${{nosuch.HOST}}")
    page.get_by_test_id("confirm-ok").click()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()

    services = {s["name"]: s for s in api.call("GET", f"/projects/{pid}/services")["data"]}
    worker = services["worker"]
    assert worker["id"] != staged["target_temp_id"]
    [deployment] = api.call("GET", f"/projects/{pid}/services/{worker['id']}/deployments")["data"]
    assert deployment["env_vars"] == {
        "TOKEN": "s3cret-three",
        "GHOST": "${{nosuch.HOST}}",
        "DB_LOG": "info",
        "GREETING": "hello world",
    }
