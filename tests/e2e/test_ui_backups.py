"""The admin page's Backups tab in Chromium: the schedule form, a run started from the page, and a
failed run shown with its reason."""

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

pytestmark = [pytest.mark.browser]


@ui.screenshot_on_failure
def test_a_failed_backup_is_shown_on_the_admin_page_with_its_reason(
    browser: Any, daemon: ui.Daemon, api: ui.Api
) -> None:
    e = ui.expect(timeout_ms=30_000)
    api.register("Ada Admin", "ada@example.com")
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, "/admin")
    page.get_by_test_id("admin-tab-backups").click()
    e(page.get_by_test_id("admin-backups")).to_contain_text("No backups yet.")

    # A destination nothing answers at: the run fails, and the page says why.
    schedule = page.get_by_test_id("backup-schedule")
    schedule.locator("input[name=keep]").fill("0")
    page.get_by_test_id("backup-schedule-save").click()
    e(page.get_by_test_id("field-error-keep")).to_be_visible()
    schedule.locator("input[name=keep]").fill("3")
    schedule.locator("input[name=destination]").fill("s3://nowhere/deploykit")
    schedule.locator("input[name=s3_endpoint]").fill(f"http://127.0.0.1:{ui.free_port()}")
    page.get_by_test_id("backup-schedule-save").click()
    e(page.get_by_test_id("field-error-keep")).to_have_count(0)
    e(page.get_by_test_id("toast-success").last).to_be_visible()  # saved (the first save was refused)
    stored = api.call("GET", "/system/backups/schedule")
    assert (stored["keep"], stored["destination"]) == (3, "s3://nowhere/deploykit")

    page.get_by_test_id("backup-now").click()
    alert = page.get_by_test_id("backup-failed")
    e(alert).to_contain_text("The last backup failed")
    row = page.get_by_test_id("backup-row")
    e(row).to_have_count(1)
    e(row).to_have_attribute("data-status", "failed")
    (failed,) = api.call("GET", "/system/backups")["data"]
    assert failed["status"] == "failed"
    e(alert).to_contain_text(failed["error"])
    e(row).to_contain_text(failed["error"])
