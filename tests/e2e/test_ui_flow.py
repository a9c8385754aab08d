"""The main journey in a real browser against a real daemon: first-run setup, a project, a service
added on the canvas, the pending-changes bar, Deploy, and (with Docker) logs, an env change and a
rollback."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e import ui_support as ui

# The shared fixtures, by name, so that pytest finds them in this module.
spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
COMMAND = '["sh","-c","echo hello-from-dk; mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www"]'


def setup_admin(page: Any, base: str) -> None:
    e = ui.expect()
    page.goto(base)
    e(page).to_have_url(re.compile(r"/setup$"))
    e(page.get_by_test_id("setup-wizard")).to_be_visible()
    page.get_by_test_id("setup-name").fill("Ada Admin")
    page.get_by_test_id("setup-email").fill("ada@example.com")
    page.get_by_test_id("setup-password").fill(ui.PASSWORD)
    page.get_by_test_id("setup-submit").click()
    e(page.get_by_test_id("projects-empty")).to_be_visible()


def create_project(page: Any, name: str) -> str:
    e = ui.expect()
    page.get_by_test_id("new-project").first.click()
    page.get_by_test_id("project-name").fill(name)
    page.get_by_test_id("create-project-submit").click()
    e(page.get_by_test_id("project-title")).to_have_text(name)
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    m = re.search(r"/projects/([^/?]+)", page.url)
    assert m, page.url
    return m.group(1)


def add_image_service(page: Any, name: str, *, command: str = COMMAND) -> None:
    e = ui.expect()
    page.locator(".react-flow__pane").click(button="right", position={"x": 320, "y": 220})
    page.get_by_test_id("ctx-add-service").click()
    dialog = page.get_by_test_id("add-service-dialog")
    e(dialog).to_be_visible()
    page.get_by_test_id("svc-name").fill(name)
    page.get_by_test_id("svc-image").fill(ui.TEST_IMAGE)
    page.get_by_test_id("svc-port").fill("8080")
    page.get_by_test_id("svc-command").fill(command)
    page.get_by_test_id("add-service-submit").click()
    e(dialog).to_be_hidden()


def deploy(page: Any) -> None:
    e = ui.expect()
    page.get_by_test_id("pending-deploy").click()
    e(page.get_by_test_id("toast-info").filter(has_text="Applied").last).to_be_visible()
    e(page.get_by_test_id("pending-bar")).to_be_hidden()


def service_node(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid="service-node"][data-name="{name}"]')


@ui.screenshot_on_failure
def test_setup_wizard_project_service_and_deploy(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    e = ui.expect()
    page = ui.new_page(browser)
    setup_admin(page, daemon.url)
    create_project(page, "shop")

    add_image_service(page, "web")
    node = service_node(page, "web")
    e(node).to_be_visible()
    e(node).to_have_attribute("data-status", "staged")
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")

    page.get_by_test_id("pending-toggle").click()
    group = page.get_by_test_id("diff-group").filter(has_text="web")
    e(group).to_contain_text("creating")
    e(group).to_contain_text(ui.TEST_IMAGE)

    deploy(page)
    e(node).not_to_have_attribute("data-status", "staged")

    # The applied service opens in the side panel with its deployment.
    node.click()
    panel = page.get_by_test_id("service-panel")
    e(panel).to_be_visible()
    e(page.get_by_test_id("service-panel-name")).to_have_text("web")
    e(page.get_by_test_id("deployment")).to_have_count(1)

    # An env var is staged, marked, shown in the diff and deployed as a new deployment.
    page.get_by_test_id("tab-variables").click()
    page.get_by_test_id("env-key").fill("GREETING")
    page.get_by_test_id("env-value").fill("hello")
    page.get_by_test_id("env-add").click()
    e(page.locator('[data-testid="env-row"][data-key="GREETING"] [data-testid="env-staged"]')).to_be_visible()
    e(page.get_by_test_id("pending-count")).to_contain_text("1 pending change")
    page.get_by_test_id("pending-toggle").click()
    e(page.get_by_test_id("pending-diff")).to_contain_text("GREETING")
    deploy(page)
    e(page.locator('[data-testid="env-row"][data-key="GREETING"] [data-testid="env-staged"]')).to_have_count(0)
    page.get_by_test_id("tab-deployments").click()
    e(page.get_by_test_id("deployment")).to_have_count(2)


@pytest.mark.docker
@ui.screenshot_on_failure
def test_deployed_service_runs_logs_and_rolls_back(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "runtime"}, expect=201)
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{project['id']}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")

    add_image_service(page, "web")
    deploy(page)
    node = service_node(page, "web")
    e(node).to_have_attribute("data-status", "running", timeout=120_000)

    node.click()
    page.get_by_test_id("tab-logs").click()
    logs = page.get_by_test_id("runtime-logs")
    e(page.get_by_test_id("runtime-logs-status")).to_have_attribute("data-status", re.compile("live|ended"))
    e(logs).to_contain_text("hello-from-dk", timeout=60_000)
    stream = page.get_by_test_id("runtime-logs-status")
    if stream.get_attribute("data-status") == "live":
        page.get_by_test_id("runtime-logs-pause").click()
        e(stream).to_have_attribute("data-status", "paused")
        page.get_by_test_id("runtime-logs-pause").click()
        e(stream).to_have_attribute("data-status", "live")

    # The background sampler's stored samples of the running replica are charted (uPlot), with
    # the 1h/6h/24h/7d ranges and the deployment as a marker.
    page.get_by_test_id("tab-metrics").click()
    cpu = page.get_by_test_id("chart-cpu")
    e(cpu).to_have_attribute("data-points", re.compile(r"^([2-9]|\d\d+)$"), timeout=60_000)
    e(cpu.locator("canvas")).to_be_visible()
    e(page.get_by_test_id("chart-memory")).to_contain_text("limit")
    e(cpu).to_contain_text("1 deployment(s)")
    page.get_by_test_id("metrics-range-6h").click()
    e(page.get_by_test_id("chart-cpu")).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=30_000)

    page.get_by_test_id("tab-variables").click()
    page.get_by_test_id("env-key").fill("GREETING")
    page.get_by_test_id("env-value").fill("v2")
    page.get_by_test_id("env-add").click()
    deploy(page)

    page.get_by_test_id("tab-deployments").click()
    active = page.locator('[data-testid="deployment"][data-role="active"]')
    first = page.locator('[data-testid="deployment"][data-role="history"]')
    e(page.get_by_test_id("deployment")).to_have_count(2)
    e(active).to_have_attribute("data-status", "healthy", timeout=120_000)
    second_id = active.get_attribute("data-id")
    e(first.locator('[data-testid="rollback"]')).to_be_visible()
    first.locator('[data-testid="rollback"]').click()
    e(page.get_by_test_id("toast-info").filter(has_text="Rolling back").last).to_be_visible()
    # The service converges on a deployment other than the one with GREETING=v2.
    e(active).not_to_have_attribute("data-id", second_id or "", timeout=120_000)
    e(active).to_have_attribute("data-status", "healthy", timeout=120_000)
    e(node).to_have_attribute("data-status", "running", timeout=120_000)


@pytest.mark.docker
@ui.screenshot_on_failure
def test_failed_deployment_shows_reason_exit_code_and_log_tail(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "broken"}, expect=201)
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{project['id']}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    add_image_service(page, "crash", command='["sh","-c","echo going-down; exit 3"]')
    deploy(page)
    node = service_node(page, "crash")
    e(node).to_have_attribute("data-status", "failed", timeout=120_000)
    node.click()
    failure = page.get_by_test_id("deployment-failure")
    e(failure).to_contain_text("exit code 3")
    # Whatever the daemon recorded is shown: its reason always, the log tail when it captured one.
    services = api.call("GET", f"/projects/{project['id']}/services")["data"]
    deployments = api.call("GET", f"/projects/{project['id']}/services/{services[0]['id']}/deployments")["data"]
    failed = next(d for d in deployments if d["status"] == "failed")
    e(failure).to_contain_text(failed["failure_reason"])
    if failed["log_tail"]:
        e(failure).to_contain_text("going-down")
    # The finished deployment's stored log ({deployment_id, status, log}) opens in full.
    log = api.call("GET", f"/projects/{project['id']}/services/{services[0]['id']}/deployments/{failed['id']}/logs")[
        "log"
    ]
    page.get_by_test_id("deployment-log-toggle").first.click()
    e(page.get_by_test_id("deployment-log")).to_contain_text(log.splitlines()[0])
