"""Import compose on the canvas: a refused file shows the field, a preview (the dry run) shows what
will be staged and what is left out, and staging puts the services on the canvas, undeployed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compose.files import VOTING_APP, WORDPRESS
from tests.e2e import ui_support as ui

spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@ui.screenshot_on_failure
def test_import_compose_previews_then_stages(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    page, pid = ui.new_project_canvas(browser, daemon, api, "blog")

    page.get_by_test_id("import-compose-button").click()
    dialog = page.get_by_test_id("import-compose-dialog")
    dialog.get_by_test_id("compose-yaml").fill(VOTING_APP)
    dialog.get_by_test_id("compose-preview-button").click()
    e(dialog.get_by_test_id("compose-error")).to_contain_text("services.vote.build")
    e(dialog.get_by_test_id("compose-error")).to_contain_text("repository")

    dialog.get_by_test_id("compose-yaml").fill(WORDPRESS)
    dialog.get_by_test_id("compose-preview-button").click()
    preview = dialog.get_by_test_id("compose-preview")
    e(preview.get_by_test_id("compose-service-wordpress")).to_contain_text("wordpress:latest · port 80")
    e(preview.get_by_test_id("compose-service-wordpress")).to_contain_text("HTTP check /wp-login.php")
    e(preview.get_by_test_id("compose-service-db")).to_contain_text("volumes db_data:/var/lib/mysql")
    e(preview.get_by_test_id("compose-skipped")).to_contain_text("services.db.healthcheck.test")
    assert api.call("GET", f"/projects/{pid}/pending-changes")["data"] == []

    dialog.get_by_test_id("compose-stage").click()
    e(dialog).to_be_hidden()
    for name in ("db", "wordpress"):
        e(page.locator(f'[data-testid="service-node"][data-name="{name}"]')).to_have_attribute("data-status", "staged")
    e(page.get_by_test_id("pending-bar")).to_be_visible()
    kinds = [c["kind"] for c in api.call("GET", f"/projects/{pid}/pending-changes")["data"]]
    assert kinds == ["service.create", "service.create"]
    assert api.call("GET", f"/projects/{pid}/services")["total_count"] == 0
