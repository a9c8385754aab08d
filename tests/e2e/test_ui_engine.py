"""The admin page's Engine tab in Chromium: the engine's objects with their owner (from labels),
and a prune started from the page."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest

from tests.e2e import ui_support as ui
from tests.e2e.support import instance_id_for

spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=True).stdout.strip()


@ui.screenshot_on_failure
def test_the_engine_tab_shows_owners_and_prunes(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect(timeout_ms=30_000)
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "Shop"})
    tag = uuid.uuid4().hex[:10]
    owned, stranger = f"dk_shop_{tag}_data", f"not-ours-{tag}"
    labels = {"managed-by": "deploykit", "deploykit.project-id": project["id"], "deploykit.service-id": "s-gone"}
    labels["deploykit.instance"] = instance_id_for(daemon.data_dir)
    docker("volume", "create", *[a for k, v in labels.items() for a in ("--label", f"{k}={v}")], owned)
    docker("volume", "create", stranger)
    try:
        page = ui.new_page(browser)
        ui.sign_in(page, daemon.url, api.tokens, "/admin")
        page.get_by_test_id("admin-tab-engine").click()
        volumes = page.get_by_test_id("engine-volumes")
        mine = volumes.get_by_test_id("engine-row").filter(has_text=owned)
        e(mine).to_have_attribute("data-managed", "yes")
        e(mine.get_by_test_id("engine-owner")).to_have_text("Shop / unknown service s-gone")
        theirs = volumes.get_by_test_id("engine-row").filter(has_text=stranger)
        e(theirs).to_have_attribute("data-managed", "no")
        e(theirs.get_by_test_id("engine-owner")).to_have_text("unmanaged")
        e(page.get_by_test_id("engine-images").get_by_test_id("engine-row").first).to_be_visible()

        page.get_by_test_id("engine-prune").click()
        page.get_by_test_id("confirm-ok").click()
        e(page.get_by_text("reclaimed.")).to_be_visible()
        e(page.get_by_test_id("confirm-dialog")).to_have_count(0)
    finally:
        docker("volume", "rm", "-f", owned, stranger)
