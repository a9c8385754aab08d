"""Deploy state in a real browser against a real daemon and Docker (issue 15, items 1 and 6): a
rollback sticks (Settings show the rolled-back config, an unrelated Deploy keeps it); a failed
deploy leaves the settings the user asked for, shown as differing from what runs on the node, in
Settings and in the diff before Deploy, with Retry on the card and "Revert to running"; the
status says Draining while the old replica drains; cards say what triggered them and what changed."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import ui_support as ui
from tests.e2e.support import instance_id_for, remove_engine_objects
from tests.e2e.test_ui_flow import add_image_service, deploy, service_node
from tests.wait import wait_for_sync

spa_built, daemon, playwright_instance, browser, api = (
    ui.spa_built,
    ui.daemon,
    ui.playwright_instance,
    ui.browser,
    ui.api,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.docker]
SETTLE_MS = 120_000


@pytest.fixture
def routed_daemon(spa_built: None) -> Iterator[ui.Daemon]:
    """A daemon that routes through its own Caddy: old replicas get their drain period only then."""
    caddy = shutil.which("caddy") or "/usr/bin/caddy"
    if not Path(caddy).exists():
        pytest.skip("no caddy binary (apt-get install caddy)")
    with tempfile.TemporaryDirectory(prefix="dk-ui-drain-") as tmp:
        flags = ["--caddy-bin", caddy, "--http-port", str(ui.free_port()), "--https-port", str(ui.free_port())]
        d = ui.start_daemon(Path(tmp), extra_args=[*flags, "--no-https-redirect"])
        try:
            yield d
        finally:
            ui.stop_daemon(d)
            remove_engine_objects(instance_id_for(d.data_dir))


def command(version: str) -> str:
    return f'["sh","-c","echo {version}; mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www"]'


def stage_command(page: Any, value: str) -> None:
    e = ui.expect()
    page.get_by_test_id("tab-settings").click()
    field = page.get_by_test_id("svc-command")
    field.fill(value)
    page.get_by_test_id("settings-save").click()
    e(page.get_by_test_id("toast-success").filter(has_text="Settings staged").last).to_be_visible()


def stage_variable(page: Any, key: str, value: str) -> None:
    page.get_by_test_id("tab-variables").click()
    page.get_by_test_id("env-key").fill(key)
    page.get_by_test_id("env-value").fill(value)
    page.get_by_test_id("env-add").click()
    ui.expect()(page.locator(f'[data-testid="env-row"][data-key="{key}"] [data-testid="env-staged"]')).to_be_visible()


def open_diff(page: Any) -> None:
    toggle = page.get_by_test_id("pending-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    ui.expect()(page.get_by_test_id("pending-diff")).to_be_visible()


def active_card(page: Any) -> Any:
    return page.locator('[data-testid="deployment"][data-role="active"]')


def settled(page: Any, count: int) -> Any:
    """Wait until the service has ``count`` deployments and none in flight; the active card."""
    e = ui.expect()
    e(page.get_by_test_id("deployment")).to_have_count(count, timeout=SETTLE_MS)
    e(page.locator('[data-testid="deployment"][data-role="inflight"]')).to_have_count(0, timeout=SETTLE_MS)
    return active_card(page)


def active_deployment(api: ui.Api, project_id: str, service_id: str) -> dict[str, Any]:
    service = api.call("GET", f"/projects/{project_id}/services/{service_id}")
    return dict(
        api.call("GET", f"/projects/{project_id}/services/{service_id}/deployments/{service['active_deployment_id']}")
    )


@ui.screenshot_on_failure
def test_rollback_sticks_and_a_failed_config_shows_until_reverted(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    page, pid = ui.new_project_canvas(browser, daemon, api, "state")

    add_image_service(page, "web", command=command("v1"))
    deploy(page)
    node = service_node(page, "web")
    e(node).to_have_attribute("data-status", "running", timeout=SETTLE_MS)
    e(node).to_have_attribute("data-pending", "false")
    sid = api.call("GET", f"/projects/{pid}/services")["data"][0]["id"]
    node.click()

    # v2 deployed, then rolled back to v1 from its card.
    stage_command(page, command("v2"))
    e(node).to_have_attribute("data-pending", "true")
    deploy(page)
    page.get_by_test_id("tab-deployments").click()
    e(settled(page, 2)).to_have_attribute("data-status", "healthy")
    e(active_card(page).get_by_test_id("deployment-changes")).to_contain_text("command")
    e(active_card(page).get_by_test_id("deployment-trigger")).to_have_text("Deploy by you")
    history = page.locator('[data-testid="deployment"][data-role="history"]')
    history.get_by_test_id("rollback").click()
    e(page.get_by_test_id("toast-info").filter(has_text="Rolling back").last).to_be_visible()
    e(settled(page, 3)).to_have_attribute("data-status", "healthy")
    e(active_card(page).get_by_test_id("deployment-trigger")).to_have_attribute("data-trigger", "rollback")
    e(active_card(page).get_by_test_id("deployment-trigger")).to_contain_text("Rollback to")

    # Settings show the rolled-back command, nothing differs, and an unrelated Deploy keeps v1.
    page.get_by_test_id("tab-settings").click()
    e(page.get_by_test_id("svc-command")).to_have_value(re.compile("echo v1"))
    e(page.get_by_test_id("drift-notice")).to_have_count(0)
    stage_variable(page, "GREETING", "hi")
    open_diff(page)
    e(page.get_by_test_id("pending-diff")).to_contain_text("GREETING")
    e(page.get_by_test_id("diff-running")).to_have_count(0)
    deploy(page)
    page.get_by_test_id("tab-deployments").click()
    e(settled(page, 4)).to_have_attribute("data-status", "healthy")
    e(active_card(page).get_by_test_id("deployment-changes")).to_have_text("env: +GREETING")
    assert "echo v1" in " ".join(active_deployment(api, pid, sid)["command"])

    # A config that fails: the node says so and differs from what runs, Settings and the diff too.
    stage_command(page, '["sh","-c","echo broken; exit 3"]')
    deploy(page)
    e(node).to_have_attribute("data-last-deploy", "failed", timeout=SETTLE_MS)
    e(node.get_by_test_id("node-deploy-failed")).to_be_visible()
    e(node).to_have_attribute("data-pending", "true")
    page.get_by_test_id("tab-settings").click()
    notice = page.get_by_test_id("drift-notice")
    e(notice).to_contain_text("the last deploy of them failed")
    e(notice.locator('[data-testid="drift-field"][data-field="command"]')).to_contain_text("exit 3")
    stage_variable(page, "OTHER", "1")
    open_diff(page)
    running = page.get_by_test_id("diff-running")
    e(running).to_contain_text("command")
    e(running).to_contain_text("exit 3")

    # The failed card has Retry; the retry is a deployment of its own.
    page.get_by_test_id("tab-deployments").click()
    failed_card = page.locator('[data-testid="deployment"][data-status="failed"]').first
    failed_card.get_by_test_id("retry").click()
    e(page.get_by_test_id("toast-success").filter(has_text="Retrying").last).to_be_visible()
    e(page.locator('[data-testid="deployment-trigger"][data-trigger="retry"]')).to_have_count(1)

    # Revert to running: the settings are what runs again, and Deploy keeps v1.
    page.get_by_test_id("tab-settings").click()
    page.get_by_test_id("drift-revert").click()
    e(page.get_by_test_id("toast-success").filter(has_text="back to what runs").last).to_be_visible()
    e(page.get_by_test_id("drift-notice")).to_have_count(0)
    e(page.get_by_test_id("svc-command")).to_have_value(re.compile("echo v1"))
    open_diff(page)
    e(page.get_by_test_id("pending-diff")).to_contain_text("OTHER")
    e(page.get_by_test_id("diff-running")).to_have_count(0)
    deploy(page)
    e(node).to_have_attribute("data-pending", "false")
    e(node).to_have_attribute("data-last-deploy", "healthy", timeout=SETTLE_MS)
    e(node.get_by_test_id("node-deploy-failed")).to_have_count(0)
    assert "echo v1" in " ".join(active_deployment(api, pid, sid)["command"])


@ui.screenshot_on_failure
def test_the_status_says_draining_while_the_old_replica_drains(browser: Any, routed_daemon: ui.Daemon) -> None:
    daemon = routed_daemon
    ui.require_docker(daemon)
    wait_for_sync(lambda: daemon.health()["services"]["ingress"], within=30, message="the ingress to answer")
    api = ui.Api(daemon.url)
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    project = api.call("POST", "/projects", {"name": "drain"}, expect=201)
    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{project['id']}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    add_image_service(page, "web", command=command("v1"))
    deploy(page)
    node = service_node(page, "web")
    e(node).to_have_attribute("data-status", "running", timeout=SETTLE_MS)
    sid = api.call("GET", f"/projects/{project['id']}/services")["data"][0]["id"]
    api.call("PATCH", f"/projects/{project['id']}/services/{sid}", {"drain_s": 8})
    api.call("POST", f"/projects/{project['id']}/deploy")

    node.click()
    stage_variable(page, "GREETING", "hi")
    deploy(page)
    e(node.get_by_test_id("service-node-status")).to_have_text("Draining", timeout=SETTLE_MS)
    e(page.get_by_test_id("service-panel-status")).to_contain_text("Draining")
    e(node.get_by_test_id("service-node-status")).to_have_text("Running", timeout=SETTLE_MS)


# Healthy only with TOKEN one or uno: a variable alone can make a deploy fail.
TOKEN_COMMAND = (
    '["sh","-c","case $TOKEN in one|uno) ;; *) echo bad token; exit 3;; esac; '
    'mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www"]'
)


def stage_token(api: ui.Api, pid: str, sid: str, value: str) -> None:
    [var] = [v for v in api.call("GET", f"/projects/{pid}/services/{sid}/env-vars")["data"] if v["key"] == "TOKEN"]
    api.call("PATCH", f"/projects/{pid}/services/{sid}/env-vars/{var['id']}", {"value": value})


def service_vars(api: ui.Api, pid: str, sid: str) -> dict[str, str]:
    return {v["key"]: v["value"] for v in api.call("GET", f"/projects/{pid}/services/{sid}/env-vars")["data"]}


@ui.screenshot_on_failure
def test_a_variable_value_that_differs_from_what_runs_shows_masked_reverts_and_rolls_back(
    browser: Any, daemon: ui.Daemon, api: ui.Api
) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    page, pid = ui.new_project_canvas(browser, daemon, api, "vars")

    add_image_service(page, "web", command=TOKEN_COMMAND)
    node = service_node(page, "web")
    node.click()
    # A staged service's panel has its variables, without tabs.
    page.get_by_test_id("env-key").fill("TOKEN")
    page.get_by_test_id("env-value").fill("one")
    page.get_by_test_id("env-add").click()
    e(page.locator('[data-testid="env-row"][data-key="TOKEN"]')).to_be_visible()
    deploy(page)
    e(node).to_have_attribute("data-status", "running", timeout=SETTLE_MS)
    sid = api.call("GET", f"/projects/{pid}/services")["data"][0]["id"]

    # Only the variable's value changes, and that deploy fails: it differs from what runs.
    stage_token(api, pid, sid, "two")
    deploy(page)
    e(node).to_have_attribute("data-last-deploy", "failed", timeout=SETTLE_MS)
    e(node).to_have_attribute("data-pending", "true")
    page.get_by_test_id("tab-settings").click()
    notice = page.get_by_test_id("drift-notice")
    row = notice.locator('[data-testid="drift-field"][data-field="env.TOKEN"]')
    e(row).to_contain_text("••••••")
    e(row).not_to_contain_text("two")
    notice.get_by_test_id("drift-reveal").check()
    e(row.locator(".diff-before")).to_have_text("one")
    e(row.locator(".diff-after")).to_have_text("two")
    stage_variable(page, "OTHER", "1")
    open_diff(page)
    running = page.locator('[data-testid="diff-running-field"][data-field="env.TOKEN"]')
    e(running).to_contain_text("••••••")
    e(running).not_to_contain_text("two")
    page.get_by_test_id("pending-reveal").check()
    e(running.locator(".diff-after")).to_have_text("two")

    # Revert to running puts the value back; the staged OTHER then deploys with TOKEN=one.
    page.get_by_test_id("tab-settings").click()
    page.get_by_test_id("drift-revert").click()
    e(page.get_by_test_id("toast-success").filter(has_text="back to what runs").last).to_be_visible()
    e(page.get_by_test_id("drift-notice")).to_have_count(0)
    assert service_vars(api, pid, sid)["TOKEN"] == "one"
    open_diff(page)
    e(page.get_by_test_id("pending-diff")).to_contain_text("OTHER")
    e(page.get_by_test_id("diff-running")).to_have_count(0)
    deploy(page)
    page.get_by_test_id("tab-deployments").click()
    e(settled(page, 3)).to_have_attribute("data-status", "healthy")
    good = active_deployment(api, pid, sid)
    assert good["env_vars"] == {"TOKEN": "one", "OTHER": "1"}

    # TOKEN=uno runs; rolling back to the deployment before it puts TOKEN=one back in the settings.
    stage_token(api, pid, sid, "uno")
    deploy(page)
    e(settled(page, 4)).to_have_attribute("data-status", "healthy")
    page.locator(f'[data-testid="deployment"][data-id="{good["id"]}"]').get_by_test_id("rollback").click()
    e(page.get_by_test_id("toast-info").filter(has_text="Rolling back").last).to_be_visible()
    e(settled(page, 5)).to_have_attribute("data-status", "healthy")
    e(active_card(page).get_by_test_id("deployment-trigger")).to_contain_text("Rollback to")
    e(active_card(page).get_by_test_id("deployment-trigger")).to_contain_text("by you")
    assert active_deployment(api, pid, sid)["env_vars"]["TOKEN"] == "one"
    assert service_vars(api, pid, sid)["TOKEN"] == "one"
    page.get_by_test_id("tab-settings").click()
    e(page.get_by_test_id("drift-notice")).to_have_count(0)
    e(node).to_have_attribute("data-pending", "false")


@ui.screenshot_on_failure
def test_deployment_cards_name_who_deployed(browser: Any, daemon: ui.Daemon, api: ui.Api) -> None:
    ui.require_docker(daemon)
    e = ui.expect()
    api.register("Ada Admin", "ada@example.com")
    pid = api.call("POST", "/projects", {"name": "who"}, expect=201)["id"]
    web = {"name": "web", "source": {"type": "image", "image": ui.TEST_IMAGE}, "command": ["sleep", "3600"]}
    api.call("POST", f"/projects/{pid}/services", web)
    api.call("POST", f"/projects/{pid}/deploy")
    sid = api.call("GET", f"/projects/{pid}/services")["data"][0]["id"]
    key = api.call("POST", "/api-keys", {"description": "ci"}, expect=201)["token"]
    ui.Api(daemon.url, {"access_token": key}).call("POST", f"/projects/{pid}/services/{sid}/redeploy", expect=201)
    api.call(
        "POST", "/users", {"email": "max@example.com", "name": "Max Member", "password": ui.PASSWORD, "role": "member"}
    )
    api.as_user("max@example.com").call("POST", f"/projects/{pid}/services/{sid}/redeploy", expect=201)

    page = ui.new_page(browser)
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}?service={sid}")
    page.get_by_test_id("tab-deployments").click()
    triggers = page.get_by_test_id("deployment-trigger")
    e(triggers).to_have_count(3, timeout=SETTLE_MS)
    for text in ("Redeploy by Max Member", "Redeploy by API key ci", "Deploy by you"):
        e(triggers.filter(has_text=text)).to_have_count(1)
    e(triggers.filter(has_text="by a user")).to_have_count(0)
