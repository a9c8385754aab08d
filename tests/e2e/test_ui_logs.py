"""Logs in a real browser against a real daemon and Docker (issue 15, item 7): a 2-replica service's
runtime log shows each line's time, a filter narrows the lines and counts them, the replica picker
shows one replica's lines, Download saves every line held with its ISO time and replica, a
finished deployment log says Ended without offering Reconnect or Pause, and a runtime log whose
containers stopped offers Reconnect but no Pause."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import ui_support as ui
from tests.e2e.test_ui_flow import service_node
from tests.wait import wait_for_sync

spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.docker]
SETTLE_S = 120
# Docker names a container's host after the first 12 characters of its id, so each replica's
# lines say which container printed them.
SCRIPT = 'for i in 1 2 3; do echo "apple-$HOSTNAME-$i"; done; echo "Banana-$HOSTNAME" >&2; exec sleep 3600'


def running_replicas(api: ui.Api, pid: str, sid: str) -> dict[int, str] | None:
    """Replica index -> short container id, once exactly two replicas run."""
    rows = api.call("GET", f"/projects/{pid}/services/{sid}/containers")["data"]
    running = {r["replica_index"]: r["id"][:12] for r in rows if r["state"] == "running"}
    return running if len(running) == 2 else None


@ui.screenshot_on_failure
def test_logs_show_times_filter_pick_a_replica_and_download(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    pid = api.call("POST", "/projects", {"name": "logs"}, expect=201)["id"]
    api.call(
        "POST",
        f"/projects/{pid}/services",
        {
            "name": "web",
            "source": {"type": "image", "image": ui.TEST_IMAGE},
            "command": ["sh", "-c", SCRIPT],
            "replicas": 2,
        },
    )
    api.call("POST", f"/projects/{pid}/deploy")
    sid = api.call("GET", f"/projects/{pid}/services")["data"][0]["id"]
    replicas = wait_for_sync(
        lambda: running_replicas(api, pid, sid), within=SETTLE_S, message="two running replicas of web"
    )
    first, second = replicas[0], replicas[1]

    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    service_node(page, "web").click()
    page.get_by_test_id("tab-logs").click()
    logs = page.get_by_test_id("runtime-logs")
    lines = logs.get_by_test_id("log-line")
    for cid in (first, second):
        e(logs).to_contain_text(f"apple-{cid}-3", timeout=60_000)
        e(logs).to_contain_text(f"Banana-{cid}")
    e(page.get_by_test_id("runtime-logs-count")).to_have_text("8 lines")
    status = page.get_by_test_id("runtime-logs-status")
    e(status).to_have_attribute("data-status", "live")
    # A live stream can be paused, and is not offered a Reconnect.
    e(page.get_by_test_id("runtime-logs-pause")).to_be_visible()
    e(page.get_by_test_id("runtime-logs-reconnect")).to_have_count(0)

    # Each line shows the engine's time in local HH:MM:SS.mmm, the full ISO time as its title.
    stamp = lines.filter(has_text=f"apple-{first}-1").get_by_test_id("log-ts")
    e(stamp).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    e(stamp).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"))
    toggle = page.get_by_label("Timestamps")
    toggle.uncheck()
    e(logs.get_by_test_id("log-ts")).to_have_count(0)
    toggle.check()
    e(logs.get_by_test_id("log-ts")).to_have_count(8)

    # The filter narrows to the lines containing the text, in any case, counts and marks them.
    page.get_by_label("Filter log lines").fill("banana")
    e(lines).to_have_count(2)
    e(page.get_by_test_id("runtime-logs-count")).to_have_text("2 of 8 lines")
    e(logs.locator("mark").first).to_have_text("Banana")
    page.get_by_label("Filter log lines").fill("")
    e(lines).to_have_count(8)

    # The replica picker shows one replica's lines only.
    picker = page.get_by_label("Replica", exact=True)
    e(picker.locator("option")).to_have_text(["All replicas", f"replica 0 · {first}", f"replica 1 · {second}"])
    picker.select_option(label=f"replica 1 · {second}")
    e(lines).to_have_count(4)
    e(page.get_by_test_id("runtime-logs-count")).to_have_text("4 of 8 lines")
    e(logs.locator(f'[data-testid="log-line"][data-container="{first}"]')).to_have_count(0)
    e(logs).not_to_contain_text(f"apple-{first}")
    e(logs).to_contain_text(f"apple-{second}-2")

    # Download saves every line held (the picker's choice aside), each with its ISO time and replica.
    with page.expect_download() as info:
        page.get_by_test_id("runtime-logs-download").click()
    download = info.value
    assert re.fullmatch(r"web-\d{8}-\d{6}Z\.log", download.suggested_filename), download.suggested_filename
    text = Path(download.path()).read_text()
    rows = text.splitlines()
    assert len(rows) == 8, text
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
    for cid, replica in ((first, 0), (second, 1)):
        for i in (1, 2, 3):
            assert any(re.fullmatch(rf"{iso} \[replica {replica} · {cid}\] apple-{cid}-{i}", r) for r in rows), text
        assert any(re.fullmatch(rf"{iso} \[replica {replica} · {cid}\] stderr: Banana-{cid}", r) for r in rows), text

    # A finished deployment's log is complete: it says Ended and offers neither Reconnect nor Pause.
    page.get_by_test_id("tab-deployments").click()
    card = page.locator('[data-testid="deployment"][data-role="active"]')
    e(card).to_have_attribute("data-status", "healthy", timeout=SETTLE_S * 1000)
    card.get_by_test_id("deployment-log-toggle").click()
    dep_status = page.get_by_test_id("deployment-log-status")
    e(dep_status).to_have_attribute("data-status", "ended")
    e(dep_status).to_have_text("Ended")
    deployment_log = page.get_by_test_id("deployment-log")
    e(deployment_log.get_by_role("button", name="Reconnect")).to_have_count(0)
    e(deployment_log.get_by_role("button", name=re.compile("Pause|Resume"))).to_have_count(0)
    e(deployment_log.get_by_test_id("deployment-log-download")).to_be_visible()

    # A runtime log ends when the containers it follows stop: it keeps its lines, offers no Pause,
    # and Reconnect follows whatever the service runs next.
    page.get_by_test_id("tab-logs").click()
    e(status).to_have_attribute("data-status", "live")
    e(logs).to_contain_text(f"apple-{first}-3")
    api.call("POST", f"/projects/{pid}/services/{sid}/stop")
    e(status).to_have_attribute("data-status", "ended", timeout=SETTLE_S * 1000)
    e(logs).to_contain_text("container exited")
    e(logs).to_contain_text(f"apple-{second}-3")
    e(page.get_by_test_id("runtime-logs-pause")).to_have_count(0)
    e(page.get_by_test_id("runtime-logs-reconnect")).to_be_visible()
