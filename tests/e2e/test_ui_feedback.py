"""Issue 15, item 5: feedback. Toasts sit bottom right, clear of titles and nodes; each error is
shown in one place; a server's field error goes once the field is edited; failures are red; a
failed deploy is never reported as a success; a port out of range says so, health check or not."""

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
ERROR_RED = "rgb(42, 21, 25)"


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def open_add_dialog(page: Any) -> Any:
    page.get_by_test_id("add-service-button").click()
    dialog = page.get_by_test_id("add-service-dialog")
    ui.expect()(dialog).to_be_visible()
    return dialog


@ui.screenshot_on_failure
def test_errors_in_one_place_cleared_when_fixed_and_toasts_bottom_right(
    browser: Any, daemon: ui.Daemon, api: ui.Api
) -> None:
    e = ui.expect()
    page, pid = ui.new_project_canvas(browser, daemon, api, "feedback")

    # The server agrees: a port out of range is about the range, health check or not.
    body = {"name": "web", "source": {"type": "image", "image": ui.TEST_IMAGE}, "port": 70000}
    r = api.call(
        "POST", f"/projects/{pid}/services", {**body, "health_check": {"type": "http", "path": "/"}}, expect=422
    )
    assert "65535" in r["fields"]["port"][0], r
    assert "health_check" not in r["fields"], r

    # In the browser: port 70000 with an HTTP check gets the range message, beside the field only.
    dialog = open_add_dialog(page)
    page.get_by_test_id("svc-name").fill("web")
    page.get_by_test_id("svc-image").fill(ui.TEST_IMAGE)
    page.get_by_test_id("svc-port").fill("70000")
    page.get_by_test_id("svc-advanced").click()
    page.get_by_test_id("svc-hc-enabled").check()
    page.get_by_test_id("add-service-submit").click()
    port_error = dialog.get_by_test_id("field-error-port")
    e(port_error).to_contain_text("1 to 65535")
    e(port_error).not_to_contain_text("needs a port")
    e(page.get_by_test_id("toast-error")).to_have_count(0)
    # Fixed, the message goes at once (before submitting again).
    page.get_by_test_id("svc-port").fill("8080")
    e(port_error).to_have_count(0)

    # A server-side field error (an image reference the server refuses): inline, no toast, and
    # gone as soon as the field is edited.
    page.get_by_test_id("svc-image").fill("Not An Image!")
    page.get_by_test_id("add-service-submit").click()
    image_error = dialog.get_by_test_id("field-error-image")
    e(image_error).to_contain_text("image reference")
    e(page.get_by_test_id("toast-error")).to_have_count(0)
    page.get_by_test_id("svc-image").fill(ui.TEST_IMAGE)
    e(image_error).to_have_count(0)
    page.get_by_test_id("add-service-submit").click()
    e(dialog).to_be_hidden()

    # The success toast: bottom right, clear of the title and of every node.
    toast = page.get_by_test_id("toast-success").filter(has_text="staged").last
    e(toast).to_be_visible()
    box = toast.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] / 2 > 640, box
    assert box["y"] + box["height"] / 2 > 360, box
    title = page.get_by_test_id("project-title").bounding_box()
    assert title is not None
    assert not overlaps(box, title)
    for n in page.locator(".react-flow__node").all():
        nb = n.bounding_box()
        assert nb is None or not overlaps(box, nb), (box, nb)

    # A name the project already has: one message, in the dialog, and no toast.
    dialog = open_add_dialog(page)
    page.get_by_test_id("svc-name").fill("web")
    page.get_by_test_id("svc-image").fill(ui.TEST_IMAGE)
    page.get_by_test_id("add-service-submit").click()
    e(dialog.locator(".field-error, .form-error")).to_have_count(1)
    e(page.get_by_test_id("toast-error")).to_have_count(0)


@pytest.mark.docker
@ui.screenshot_on_failure
def test_a_failed_deploy_is_red_and_never_a_success(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect(timeout_ms=90_000)
    page, pid = ui.new_project_canvas(browser, daemon, api, "failing")
    body = {
        "name": "crash",
        "source": {"type": "image", "image": ui.TEST_IMAGE},
        "command": ["sh", "-c", "echo boom; exit 3"],
        "restart_policy": "no",
    }
    api.call("POST", f"/projects/{pid}/services", body)
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    page.get_by_test_id("pending-deploy").click()
    e(page.get_by_test_id("toast-info").filter(has_text="in progress")).to_be_visible()
    failed = page.get_by_test_id("toast-error").filter(has_text=re.compile("crash.*failed"))
    e(failed).to_be_visible()
    assert failed.first.evaluate("el => getComputedStyle(el).backgroundColor") == ERROR_RED
    e(page.get_by_test_id("toast-success")).to_have_count(0)
