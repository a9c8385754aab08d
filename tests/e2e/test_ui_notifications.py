"""The admin page's Notifications and Audit log tabs in Chromium: a channel made, edited, tested
against a real local HTTP receiver and its deliveries shown; the audit log filtered."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.e2e import ui_support as ui
from tests.notify.receivers import http_receiver

spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser]


@ui.screenshot_on_failure
def test_a_channel_is_added_edited_tested_and_its_deliveries_shown(
    browser: Any, daemon: ui.Daemon, api: ui.Api
) -> None:
    e = ui.expect(timeout_ms=30_000)
    api.register("Ada Admin", "ada@example.com")
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, "/admin")
    page.get_by_test_id("admin-tab-notifications").click()
    card = page.get_by_test_id("admin-notifications")
    e(card).to_contain_text("No channels yet.")

    with http_receiver() as rx:
        page.get_by_test_id("channel-new").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("input[name=name]").fill("ops hook")
        dialog.locator("input[name=url]").fill("not a url")
        page.get_by_test_id("channel-save").click()
        e(page.get_by_test_id("field-error-url")).to_contain_text("must be an http(s) URL")
        e(page.get_by_test_id("field-error-secret")).to_contain_text("is required")
        dialog.locator("input[name=url]").fill(rx.base + "/hook")
        dialog.locator("input[name=secret]").fill("ui-signing-secret")
        dialog.locator("input[name='event-deployment.healthy']").check()
        page.get_by_test_id("channel-save").click()
        row = page.get_by_test_id("channel-row")
        e(row).to_have_count(1)
        e(row).to_contain_text("ops hook")
        e(row).to_contain_text("8 event(s)")
        (stored,) = api.call("GET", "/notification-channels")["data"]
        assert (stored["secrets_set"], stored["settings"]) == (["secret"], {"url": rx.base + "/hook"})
        assert "deployment.healthy" in stored["events"]

        # An edit that leaves the secret empty keeps it.
        page.get_by_test_id("channel-edit").click()
        page.get_by_role("dialog").locator("input[name=name]").fill("ops")
        page.get_by_test_id("channel-save").click()
        e(row).to_contain_text("ops")
        e(row).not_to_contain_text("ops hook")

        page.get_by_test_id("channel-test").click()
        e(page.get_by_text("The test notification was delivered.")).to_be_visible()
        [req] = rx.requests
        expected = "sha256=" + hmac.new(b"ui-signing-secret", req.body, hashlib.sha256).hexdigest()
        assert req.headers["x-deploykit-signature"] == expected
        assert json.loads(req.body)["event"] == "test"

    page.get_by_test_id("channel-deliveries").click()
    delivery = page.get_by_test_id("delivery-row")
    e(delivery).to_have_count(1)
    e(delivery).to_have_attribute("data-outcome", "success")
    e(delivery).to_contain_text("1 attempt(s)")


@ui.screenshot_on_failure
def test_the_audit_log_is_filtered_by_action_project_and_user(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect(timeout_ms=30_000)
    admin = api.register("Ada Admin", "ada@example.com")
    shop = api.call("POST", "/projects", {"name": "Shop"})
    api.call("POST", "/projects", {"name": "Blog"})
    api.call("POST", "/users", {"email": "max@example.com", "name": "Max", "password": ui.PASSWORD, "role": "member"})
    ui.Api(daemon.url).call("POST", "/auth/login", {"email": "max@example.com", "password": "wrong"}, expect=401)

    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, "/admin")
    page.get_by_test_id("admin-tab-audit").click()
    rows = page.get_by_test_id("audit-row")
    e(rows.first).to_be_visible()
    card = page.get_by_test_id("admin-audit")
    card.locator("select[name=action]").select_option("auth.login_failed")
    e(rows).to_have_count(1)
    e(rows.first).to_contain_text("max@example.com")
    e(rows.first).to_contain_text("127.0.0.1")

    card.locator("select[name=action]").select_option("")
    card.locator("select[name=project]").select_option(shop["id"])
    e(rows).to_have_count(1)
    e(rows.first).to_have_attribute("data-action", "project.created")
    e(rows.first).to_contain_text("Shop")

    card.locator("select[name=project]").select_option("")
    card.locator("select[name=user]").select_option(admin["id"])
    # What the admin did, and nothing of Max's failed login: two projects and a user.
    e(rows).to_have_count(3)
    actions = sorted(str(r.get_attribute("data-action")) for r in rows.all())
    assert actions == ["project.created", "project.created", "user.created"]
