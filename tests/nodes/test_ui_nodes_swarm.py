"""The Nodes tab of a daemon on a two-node swarm (``--runtime swarm``), in Chromium: the worker
is listed beside the manager, Activate and Drain (each behind a confirmation) change what the
swarm records, and the join command is the swarm's, copied to the clipboard."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import ui_support as ui
from tests.e2e.support import instance_id_for, remove_engine_objects
from tests.nodes.second_node import SecondNode, run

spa_built, playwright_instance, browser = ui.spa_built, ui.playwright_instance, ui.browser

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def swarm_daemon(spa_built: None, worker: SecondNode) -> Iterator[ui.Daemon]:
    with tempfile.TemporaryDirectory(prefix="dk-ui-nodes-") as tmp:
        d = ui.start_daemon(Path(tmp), extra_args=["--runtime", "swarm", "--no-ingress"])
        try:
            yield d
        finally:
            ui.stop_daemon(d)
            remove_engine_objects(instance_id_for(d.data_dir))


@ui.screenshot_on_failure
def test_the_nodes_tab_drains_and_activates_the_worker_and_copies_the_join_command(
    browser: Any, swarm_daemon: ui.Daemon, worker: SecondNode
) -> None:
    e = ui.expect(timeout_ms=30_000)
    api = ui.Api(swarm_daemon.url)
    api.register("Ada Admin", "ada@example.com")
    listed = api.call("GET", "/nodes")
    assert {(n["hostname"], n["role"]) for n in listed["data"]} >= {("dk-node2", "worker")}

    page = ui.new_page(browser)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=swarm_daemon.url)
    ui.sign_in(page, swarm_daemon.url, api.tokens, "/admin")
    page.get_by_test_id("admin-tab-nodes").click()
    rows = page.get_by_test_id("node-row")
    e(rows).to_have_count(len(listed["data"]))
    e(rows.first).to_have_attribute("data-role", "manager")
    row = page.locator('[data-testid="node-row"][data-hostname="dk-node2"]')
    e(row).to_have_attribute("data-role", "worker")
    e(row).to_have_attribute("data-state", "ready")
    e(row).to_have_attribute("data-availability", "drain")
    try:
        row.get_by_test_id("node-activate").click()
        e(page.get_by_test_id("confirm-dialog")).to_contain_text("Activate dk-node2?")
        page.get_by_test_id("confirm-ok").click()
        e(row).to_have_attribute("data-availability", "active")
        assert worker.availability() == "active"

        row.get_by_test_id("node-drain").click()
        e(page.get_by_test_id("confirm-dialog")).to_contain_text("Drain dk-node2?")
        page.get_by_test_id("confirm-ok").click()
        e(row).to_have_attribute("data-availability", "drain")
        assert worker.availability() == "drain"
    finally:
        worker.set_availability("drain")

    token = run("docker", "swarm", "join-token", "-q", "worker").strip()
    manager = run("docker", "info", "--format", "{{.Swarm.NodeAddr}}").strip()
    command = f"docker swarm join --token {token} {manager}:2377"
    e(page.get_by_test_id("nodes-join-command")).to_have_attribute("data-value", command)
    page.get_by_test_id("nodes-join-command-copy").click()
    e(page.get_by_test_id("nodes-join-command-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == command
