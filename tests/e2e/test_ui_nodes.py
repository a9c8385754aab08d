"""The admin page's Nodes tab in Chromium. With the plain Docker runtime the local engine is the
one node (role standalone), in human units, with no drain button and no join command."""

from __future__ import annotations

import json
import subprocess
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

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def gib(n: int) -> str:
    """The page's rendering of a memory size (one decimal below 100 GiB)."""
    x = n / 1024**3
    return f"{x:.0f} GiB" if x >= 100 else f"{x:.1f} GiB"


@ui.screenshot_on_failure
def test_the_nodes_tab_shows_the_local_engine_as_the_one_node(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect(timeout_ms=30_000)
    api.register("Ada Admin", "ada@example.com")
    info = json.loads(
        subprocess.run(
            ["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    )
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, "/admin")
    page.get_by_test_id("admin-tab-nodes").click()
    row = page.get_by_test_id("node-row")
    e(row).to_have_count(1)
    e(row).to_have_attribute("data-hostname", info["Name"])
    e(row).to_have_attribute("data-role", "standalone")
    e(row).to_have_attribute("data-state", "ready")
    cpus = f"{info['NCPU']} CPU" + ("s" if info["NCPU"] != 1 else "")
    e(row.get_by_test_id("node-resources")).to_have_text(f"{cpus} · {gib(info['MemTotal'])}")
    e(row.get_by_test_id("node-tasks")).to_contain_text("running")
    e(page.get_by_test_id("nodes-standalone")).to_be_visible()
    e(row.get_by_test_id("node-drain")).to_have_count(0)
    e(page.get_by_test_id("nodes-join")).to_have_count(0)
