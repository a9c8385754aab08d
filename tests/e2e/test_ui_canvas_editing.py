"""Editing on the canvas: notes, groups, drag into a group, staged deletes and settings, the diff and
discarding with confirmation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e import ui_support as ui
from tests.wait import wait_for_sync

spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def box_of(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return dict(box)


def offset(box: dict[str, float], of: dict[str, float]) -> tuple[float, float]:
    return box["x"] - of["x"], box["y"] - of["y"]


def discard_all(page: Any) -> None:
    e = ui.expect()
    page.get_by_test_id("pending-discard").click()
    page.get_by_test_id("confirm-ok").click()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()


@ui.screenshot_on_failure
def test_notes_groups_staged_delete_settings_and_discard(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "editing"}, expect=201)
    pid = project["id"]
    api.call(
        "POST",
        f"/projects/{pid}/services",
        {
            "name": "api",
            "source": {"type": "image", "image": ui.TEST_IMAGE},
            "command": ["sh", "-c", "mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www"],
            "port": 8080,
            "position_x": 40,
            "position_y": 40,
        },
    )
    api.call("POST", f"/projects/{pid}/deploy")
    page = ui.open_canvas(browser, daemon, api, pid)
    node = page.locator('[data-testid="service-node"][data-name="api"]')
    e(node).to_have_attribute("data-status", "running")
    pane = page.locator(".react-flow__pane")

    # A note, written in place, is stored on the server.
    pane.click(button="right", position={"x": 700, "y": 80})
    page.get_by_test_id("ctx-add-note").click()
    note = page.get_by_test_id("note-node")
    e(note).to_have_count(1)
    note.dblclick()
    note.locator("textarea").fill("Ask Bob about the cache size")
    pane.click(position={"x": 1000, "y": 500})
    page.reload()
    e(page.get_by_test_id("note-node")).to_contain_text("Ask Bob about the cache size")

    # Dragging the deployed service into a new group stages a move (its group's env applies).
    pane.click(button="right", position={"x": 420, "y": 260})
    page.get_by_test_id("ctx-add-group").click()
    group = page.get_by_test_id("group-node")
    e(group).to_have_count(1)
    # All in view: a drop near the pane's edge would pan the canvas under the pointer.
    page.locator(".react-flow__controls-fitview").click()
    gbox, nbox = box_of(group), box_of(node)
    target = (gbox["x"] + gbox["width"] / 2, gbox["y"] + gbox["height"] / 2)
    page.mouse.move(nbox["x"] + 60, nbox["y"] + 20)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(
            nbox["x"] + 60 + (target[0] - nbox["x"] - 60) * i / 10,
            nbox["y"] + 20 + (target[1] - nbox["y"] - 20) * i / 10,
        )
    page.mouse.up()
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    page.get_by_test_id("pending-toggle").click()
    e(page.get_by_test_id("pending-diff")).to_contain_text("group_id")
    discard_all(page)

    # Discarding the move puts the node back where the drag began, out of the group.
    began = offset(nbox, gbox)
    wait_for_sync(
        lambda: max(abs(a - b) for a, b in zip(offset(box_of(node), box_of(group)), began, strict=True)) < 1,
        within=15,
        message="the node back where the drag began",
    )
    page.reload()  # and stored so: after a reload it is still clear of the group
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    box, home = box_of(node), box_of(group)
    assert box["y"] + box["height"] <= home["y"] or box["x"] + box["width"] <= home["x"]

    # Group variables are edited from the group's menu and staged like the others.
    group.locator(".group-handle").click(button="right")
    page.get_by_test_id("ctx-group-variables").click()
    page.get_by_test_id("group-env-key").fill("REGION")
    page.get_by_test_id("group-env-value").fill("eu-west")
    page.get_by_test_id("group-env-add").click()
    region = page.locator('[data-testid="group-env-row"][data-key="REGION"]')
    e(region.get_by_test_id("group-env-staged")).to_contain_text("added")
    page.keyboard.press("Escape")
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    page.get_by_test_id("pending-toggle").click()
    e(page.get_by_test_id("diff-group").filter(has_text="REGION")).not_to_contain_text("eu-west")  # masked
    page.get_by_test_id("pending-reveal").check()
    e(page.get_by_test_id("diff-group").filter(has_text="REGION")).to_contain_text("eu-west")
    page.get_by_test_id("pending-deploy").click()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()

    # Removing a stored group variable is staged in the group's dialog, under its name, and nowhere
    # else: the project's own variables do not list it.
    group.locator(".group-handle").click(button="right")
    page.get_by_test_id("ctx-group-variables").click()
    dialog = page.get_by_test_id("group-variables-dialog")
    dialog.locator("tr", has_text="REGION").get_by_role("button", name="Remove").click()
    e(region.get_by_test_id("group-env-staged")).to_contain_text("removed")
    e(region).to_contain_text("removed on deploy")
    page.keyboard.press("Escape")
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    page.goto(f"{daemon.url}/projects/{pid}/settings")
    e(page.get_by_test_id("project-settings")).to_contain_text("Project variables")
    e(page.get_by_test_id("project-settings").locator(".env-table .badge-staged")).to_have_count(0)
    page.goto(f"{daemon.url}/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    discard_all(page)

    # Delete on a selected deployed service stages the delete; the node stays, faded.
    node.click()
    e(page.locator('.react-flow__node:has([data-name="api"])')).to_have_class(re.compile("selected"))
    page.keyboard.press("Delete")
    e(node).to_have_class(re.compile("deleting"))
    page.get_by_test_id("pending-toggle").click()
    e(page.get_by_test_id("diff-group").filter(has_text="api")).to_contain_text("deleting")
    discard_all(page)
    e(node).not_to_have_class(re.compile("deleting"))

    # Settings edits are validated inline and staged as a diff of what changed.
    node.click()
    page.get_by_test_id("tab-settings").click()
    page.get_by_test_id("svc-port").fill("99999")
    page.get_by_test_id("settings-save").click()
    e(page.get_by_test_id("field-error-port")).to_be_visible()
    page.get_by_test_id("svc-port").fill("8080")
    page.get_by_test_id("svc-replicas").fill("2")
    page.get_by_test_id("settings-save").click()
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    page.get_by_test_id("pending-toggle").click()
    row = page.get_by_test_id("pending-diff").locator("tr", has_text="replicas")
    e(row).to_contain_text("1")
    e(row).to_contain_text("2")
    e(node).to_contain_text("\N{MULTIPLICATION SIGN}1")  # not deployed yet: the node shows what runs

    # The settings say how the service rolls out; the drain period is staged like any setting.
    e(page.get_by_test_id("svc-rollout")).to_contain_text("Start-first")
    page.get_by_test_id("svc-drain").fill("4")
    page.get_by_test_id("svc-drain-save").click()
    e(page.get_by_test_id("pending-count")).to_contain_text("2 pending changes")


def center(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 10) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
    page.mouse.up()


@ui.screenshot_on_failure
def test_a_selection_dragged_into_a_group_joins_it_whole(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    page, _ = ui.new_project_canvas(browser, daemon, api, "selection", email="ada-select@example.com")
    pane = page.locator(".react-flow__pane")
    pane.click(button="right", position={"x": 120, "y": 80})
    page.get_by_test_id("ctx-add-note").click()
    pane.click(button="right", position={"x": 360, "y": 80})
    page.get_by_test_id("ctx-add-note").click()
    pane.click(button="right", position={"x": 600, "y": 300})
    page.get_by_test_id("ctx-add-group").click()
    notes, group = page.get_by_test_id("note-node"), page.get_by_test_id("group-node")
    e(notes).to_have_count(2)
    e(group).to_have_count(1)
    page.locator(".react-flow__controls-fitview").click()  # all in view: no auto-pan at the drop

    # Both notes selected (Control+click), the first dragged: the pair lands centred in the group.
    first, second = notes.nth(0), notes.nth(1)
    first.click()
    page.keyboard.down("Control")
    second.click()
    page.keyboard.up("Control")
    e(page.locator(".note-node.selected")).to_have_count(2)
    a, b, g = center(box_of(first)), center(box_of(second)), center(box_of(group))
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    drag(page, a, (a[0] + g[0] - mid[0], a[1] + g[1] - mid[1]))

    # Both joined it, and are stored so: after a reload, dragging the group carries both along.
    page.reload()
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    page.locator(".react-flow__controls-fitview").click()
    before = [box_of(notes.nth(i)) for i in range(2)]
    handle = center(box_of(group.locator(".group-handle")))
    drag(page, handle, (handle[0] + 80, handle[1] + 40))
    moved = box_of(group.locator(".group-handle"))
    shift = (center(moved)[0] - handle[0], center(moved)[1] - handle[1])
    assert abs(shift[0]) > 20, shift
    assert abs(shift[1]) > 10, shift
    for i, was in enumerate(before):
        now = box_of(notes.nth(i))
        assert abs(now["x"] - was["x"] - shift[0]) < 2, (i, was, now, shift)
        assert abs(now["y"] - was["y"] - shift[1]) < 2, (i, was, now, shift)
