"""Issue 15, item 9: the System page reads as sections with human units, not a key/value dump,
and project cards show how many services a project has and their states."""

from __future__ import annotations

import re
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

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@ui.screenshot_on_failure
def test_system_page_has_sections_and_human_units(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, "/admin")
    page.get_by_test_id("admin-tab-status").click()
    status = page.get_by_test_id("admin-status")
    e(status.locator('[data-testid="system-section"][data-section="host"]')).to_be_visible()
    host = status.locator('[data-testid="system-section"][data-section="host"]')
    uptime = host.locator(".kv-row", has=page.locator("dt", has_text=re.compile(r"^Uptime$")))
    e(uptime.locator("dd")).to_have_text(re.compile(r"^\d+ (s|min \d+ s|h \d+ min|d \d+ h)$"))
    text = status.inner_text()
    page.get_by_test_id("admin-tab-about").click()
    about = page.get_by_test_id("admin-about")
    e(about.get_by_test_id("system-section").first).to_be_visible()
    text += about.inner_text()
    for raw in ("Uptime S", "uptime_s", "Size Bytes", "Bytes", " bytes", "_pct", "Percent"):
        assert raw not in text, f"{raw!r} on the System page:\n{text}"
    assert re.search(r"\d+(\.\d)? (B|KB|MB|GB|TB)\b", text), text


@ui.screenshot_on_failure
def test_project_cards_count_their_services_and_states(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    shop = api.call("POST", "/projects", {"name": "shop"}, expect=201)["id"]
    api.call("POST", "/projects", {"name": "empty"}, expect=201)
    for name in ("web", "worker"):
        api.call(
            "POST", f"/projects/{shop}/services", {"name": name, "source": {"type": "image", "image": ui.TEST_IMAGE}}
        )
    api.call("POST", f"/projects/{shop}/deploy")
    statuses = [s["status"] for s in api.call("GET", f"/projects/{shop}/services")["data"]]
    assert len(statuses) == 2

    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, "/")
    shop_card = page.get_by_test_id("project-card").filter(has_text="shop")
    e(shop_card.get_by_test_id("project-services")).to_contain_text("2 services")
    states = shop_card.get_by_test_id("project-state")
    e(states.first).to_be_visible()
    total = sum(int(t.split()[0]) for t in states.all_inner_texts())
    assert total == 2
    empty_card = page.get_by_test_id("project-card").filter(has_text="empty")
    e(empty_card.get_by_test_id("project-services")).to_contain_text("No services")
