"""Issue 15, item 2: the canvas shows every node when it opens (on a phone too), and new nodes land
on free space instead of on top of the last one."""

from __future__ import annotations

import itertools
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

# Far from the origin: the old fixed viewport (40, 40, zoom 0.9) showed none of them.
FAR = (("far-a", 1600, 1400), ("far-b", 2300, 1900), ("far-c", 1500, 2200))


def node_boxes(page: Any) -> list[dict[str, float]]:
    boxes = [n.bounding_box() for n in page.locator(".react-flow__node").all()]
    return [b for b in boxes if b is not None]


def apart(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def seed(api: ui.Api) -> str:
    api.register("Ada Admin", "ada@example.com")
    pid = str(api.call("POST", "/projects", {"name": "spread"}, expect=201)["id"])
    for name, x, y in FAR:
        body = {"name": name, "source": {"type": "image", "image": ui.TEST_IMAGE}, "position_x": x, "position_y": y}
        api.call("POST", f"/projects/{pid}/services", body)
    return pid


@pytest.mark.parametrize("viewport", [(1280, 720), (390, 844)], ids=["desktop", "phone"])
@ui.screenshot_on_failure
def test_the_view_fits_every_node_on_load(
    browser: Any, daemon: ui.Daemon, api: ui.Api, viewport: tuple[int, int]
) -> None:
    e = ui.expect()
    pid = seed(api)
    width, height = viewport
    page = ui.new_page(browser, width=width, height=height)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    for name, _, _ in FAR:
        node = page.locator(f'[data-testid="service-node"][data-name="{name}"]')
        e(node).to_be_in_viewport(ratio=0.99)


@ui.screenshot_on_failure
def test_added_services_notes_and_groups_do_not_cover_each_other(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    pid = seed(api)
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")

    # Three services from the header's button, each asked for at the middle of the view.
    for i in range(3):
        page.get_by_test_id("add-service-button").click()
        dialog = page.get_by_test_id("add-service-dialog")
        e(dialog).to_be_visible()
        page.get_by_test_id("svc-name").fill(f"new-{i}")
        page.get_by_test_id("svc-image").fill(ui.TEST_IMAGE)
        page.get_by_test_id("add-service-submit").click()
        e(dialog).to_be_hidden()
        e(page.locator(f'[data-testid="service-node"][data-name="new-{i}"]')).to_be_visible()

    # A note and a group asked for just above a service (on the pane, in the gap around the node).
    target = page.locator('[data-testid="service-node"][data-name="new-0"]').bounding_box()
    assert target is not None
    for item, testid in (("ctx-add-note", "note-node"), ("ctx-add-group", "group-node")):
        page.mouse.click(target["x"] + 10, target["y"] - 8, button="right")
        page.get_by_test_id(item).click()
        e(page.get_by_test_id(testid)).to_have_count(1)

    e(page.locator(".react-flow__node")).to_have_count(len(FAR) + 3 + 2)
    boxes = node_boxes(page)
    assert len(boxes) == len(FAR) + 5
    for a, b in itertools.combinations(boxes, 2):
        assert apart(a, b), f"nodes overlap: {a} and {b}"
