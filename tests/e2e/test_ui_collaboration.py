"""Two people on one canvas: presence, remote cursors, draft ghosts and live node moves."""

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


def node_transform(page: Any, node_id: str) -> str:
    return str(page.locator(f'.react-flow__node[data-id="{node_id}"]').evaluate("el => el.style.transform"))


@ui.screenshot_on_failure
def test_second_user_sees_cursor_draft_and_node_move(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    api.call(
        "POST",
        "/users",
        {"name": "Bob Builder", "email": "bob@example.com", "password": ui.PASSWORD, "role": "member"},
        expect=201,
    )
    bob = api.as_user("bob@example.com")
    project = api.call("POST", "/projects", {"name": "together"}, expect=201)
    staged = api.call(
        "POST",
        f"/projects/{project['id']}/services",
        {
            "name": "api",
            "source": {"type": "image", "image": ui.TEST_IMAGE},
            "port": 8080,
            "position_x": 100,
            "position_y": 100,
        },
    )
    node_id = staged["target_temp_id"]
    path = f"/projects/{project['id']}"

    ada = ui.new_page(browser)
    ui.sign_in(ada, daemon.url, api.tokens, path)
    other = ui.new_page(browser)
    ui.sign_in(other, daemon.url, bob.tokens, path)
    for p in (ada, other):
        e(p.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
        e(p.get_by_test_id("presence-avatar")).to_have_count(2)

    # Ada's cursor shows on Bob's canvas with her name.
    pane = ada.locator(".react-flow__pane")
    pane.hover(position={"x": 500, "y": 300})
    pane.hover(position={"x": 520, "y": 320})
    cursor = other.locator('[data-testid="remote-cursor"][data-user="Ada Admin"]')
    e(cursor).to_be_visible()

    # While Ada drafts a service, Bob sees a ghost; cancelling removes it.
    ada.get_by_test_id("add-service-button").click()
    ada.get_by_test_id("svc-name").fill("worker")
    e(other.get_by_test_id("draft-ghost")).to_contain_text("Ada Admin")
    e(other.get_by_test_id("draft-ghost")).to_contain_text("worker")
    ada.keyboard.press("Escape")
    e(other.get_by_test_id("draft-ghost")).to_have_count(0)

    # Ada drags the node; Bob's copy follows and lands where Ada's did.
    before = node_transform(other, node_id)
    box = ada.locator(f'.react-flow__node[data-id="{node_id}"]').bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + 20
    ada.mouse.move(x, y)
    ada.mouse.down()
    for i in range(1, 11):
        ada.mouse.move(x + 25 * i, y + 12 * i)
    ada.mouse.up()
    after = node_transform(ada, node_id)
    assert after != before
    e(other.locator(f'.react-flow__node[data-id="{node_id}"]')).to_have_attribute("style", re.compile(re.escape(after)))

    # Bob's moved view survives a reload: the server stored the position.
    other.reload()
    e(other.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    e(other.locator(f'.react-flow__node[data-id="{node_id}"]')).to_have_attribute("style", re.compile(re.escape(after)))


@ui.screenshot_on_failure
def test_canvas_reconnects_after_the_daemon_restarts_and_resyncs(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "resilient"}, expect=201)
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{project['id']}")
    status = page.get_by_test_id("connection-status")
    e(status).to_have_text("Live")

    port = int(daemon.url.rsplit(":", 1)[1])
    ui.stop_daemon(daemon)
    e(status).to_have_text(re.compile("Reconnecting"))
    restarted = ui.start_daemon(daemon.data_dir, port=port)
    daemon.proc = restarted.proc  # the fixture stops whichever process runs last
    e(status).to_have_text("Live", timeout=30_000)

    # Live again: an edit made through the API reaches the canvas.
    api.call(
        "POST",
        f"/projects/{project['id']}/services",
        {"name": "late", "source": {"type": "image", "image": ui.TEST_IMAGE}, "position_x": 40, "position_y": 40},
    )
    e(page.locator('[data-testid="service-node"][data-name="late"]')).to_be_visible()
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
