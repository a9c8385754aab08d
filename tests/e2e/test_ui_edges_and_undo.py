"""Safer defaults and edges that mean something, in the UI: connecting service A to B stages a
reference variable on A (shown in the diff, deployed resolved) and deleting the reference edge
stages its removal; a database preset stages its connection string under the service's name;
deleting a service (Backspace or the panel) stages the delete with Undo, asking first when other
services refer to it (naming them), and a note comes back with Undo."""

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


def pending(api: ui.Api, pid: str) -> list[dict[str, Any]]:
    return list(api.call("GET", f"/projects/{pid}/pending-changes")["data"])


def drag(page: Any, source: Any, target: Any) -> None:
    a, b = source.bounding_box(), target.bounding_box()
    assert a is not None
    assert b is not None
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(
            a["x"] + (b["x"] - a["x"]) * i / 10 + b["width"] / 2, a["y"] + (b["y"] - a["y"]) * i / 10 + b["height"] / 2
        )
    page.mouse.up()


@ui.screenshot_on_failure
def test_edges_stage_references_and_deletes_have_undo(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    pid = api.call("POST", "/projects", {"name": "edges"}, expect=201)["id"]
    svc = {"source": {"type": "image", "image": ui.TEST_IMAGE}, "port": 8080, "position_y": 120}
    api.call("POST", f"/projects/{pid}/services", {"name": "web", **svc, "position_x": 40})
    api.call("POST", f"/projects/{pid}/services", {"name": "api", **svc, "position_x": 520})
    api.call("POST", f"/projects/{pid}/deploy")
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    web = page.locator('[data-testid="service-node"][data-name="web"]')
    api_node = page.locator('[data-testid="service-node"][data-name="api"]')
    e(web).to_be_visible()

    # Connecting web to api stages API_URL on web; the diff shows it; deployed, it resolves.
    drag(page, web.locator(".react-flow__handle-right"), api_node.locator(".react-flow__handle-left"))
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    [change] = pending(api, pid)
    assert (change["kind"], change["payload"]["key"], change["payload"]["value"]) == (
        "env_var.create",
        "API_URL",
        "http://${{api.HOST}}:${{api.PORT}}",
    )
    page.get_by_test_id("pending-toggle").click()
    e(page.locator('[data-testid="diff-env"][data-key="API_URL"]')).to_be_visible()
    page.get_by_test_id("pending-deploy").click()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()
    services = {s["name"]: s for s in api.call("GET", f"/projects/{pid}/services")["data"]}
    deployments = api.call("GET", f"/projects/{pid}/services/{services['web']['id']}/deployments")["data"]
    assert deployments[0]["env_vars"]["API_URL"] == "http://api:8080"

    # The reference shows as an edge; deleting it stages the variable's removal.
    edge = page.locator(".react-flow__edge.edge-managed")
    e(edge).to_have_count(1)
    box = edge.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    e(page.locator(".react-flow__edge.selected")).to_have_count(1)
    page.keyboard.press("Delete")
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    [removal] = pending(api, pid)
    assert (removal["kind"], removal["before"]["key"]) == ("env_var.delete", "API_URL")
    api.call("DELETE", f"/projects/{pid}/pending-changes")
    e(page.get_by_test_id("pending-bar")).to_be_hidden()

    # Deleting a service stages it with Undo, from the canvas (Backspace) and from the panel alike.
    # web refers to api (the edge): the delete asks first, naming web; Cancel stages nothing.
    confirm = page.get_by_test_id("confirm-dialog")
    api_node.click()
    page.keyboard.press("Escape")
    api_node.click()
    page.keyboard.press("Backspace")
    e(confirm).to_be_visible()
    e(confirm.get_by_test_id("delete-referrer")).to_have_text(["web"])
    confirm.get_by_role("button", name="Cancel").click()
    e(confirm).to_be_hidden()
    assert pending(api, pid) == []
    api_node.click()
    page.keyboard.press("Backspace")
    confirm.get_by_test_id("confirm-ok").click()
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    page.get_by_test_id("toast-action").filter(has_text="Undo").last.click()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()
    api_node.click()
    page.get_by_test_id("tab-settings").click()
    page.get_by_test_id("svc-delete").click()
    e(confirm.get_by_test_id("delete-referrer")).to_have_text(["web"])
    confirm.get_by_test_id("confirm-ok").click()
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    assert pending(api, pid)[0]["kind"] == "service.delete"
    page.get_by_test_id("toast-action").filter(has_text="Undo").last.click()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()
    # Nothing refers to web: its delete is staged at once, with Undo.
    web.click()
    page.keyboard.press("Backspace")
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    e(confirm).to_have_count(0)
    page.get_by_test_id("toast-action").filter(has_text="Undo").last.click()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()

    # A note deleted with Backspace comes back with Undo.
    pane = page.locator(".react-flow__pane")
    pane.click(button="right", position={"x": 700, "y": 420})
    page.get_by_test_id("ctx-add-note").click()
    note = page.get_by_test_id("note-node")
    e(note).to_have_count(1)
    note.click()
    page.keyboard.press("Backspace")
    e(note).to_have_count(0)
    page.get_by_test_id("toast-action").filter(has_text="Undo").last.click()
    e(note).to_have_count(1)

    # A database preset stages its connection string, referring to the name the service is given.
    pane.click(button="right", position={"x": 320, "y": 420})
    page.get_by_test_id("ctx-add-service").click()
    dialog = page.get_by_test_id("add-service-dialog")
    dialog.get_by_role("button", name="PostgreSQL").click()
    page.get_by_test_id("svc-name").fill("maindb")
    page.get_by_test_id("add-service-submit").click()
    e(dialog).to_be_hidden()
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    [create] = pending(api, pid)
    url = create["payload"]["env_vars"]["DATABASE_URL"]
    assert url.startswith("postgres://app:")
    assert url.endswith("@${{maindb.HOST}}:${{maindb.PORT}}/app")
    assert create["payload"]["public"] is False
    api.call("POST", f"/projects/{pid}/deploy")
    maindb = next(s for s in api.call("GET", f"/projects/{pid}/services")["data"] if s["name"] == "maindb")
    assert maindb["public"] is False
    assert api.call("GET", f"/projects/{pid}/services/{maindb['id']}/domains")["data"] == []
