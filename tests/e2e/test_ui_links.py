"""Issue 15, item 4: a service's URL is a link that carries the daemon's --http-port, on the node,
in the side panel's header ("Open") and in the Domains tab, and it answers through Caddy."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import ui_support as ui
from tests.e2e.support import instance_id_for, remove_engine_objects
from tests.wait import wait_for_sync

spa_built, playwright_instance, browser = ui.spa_built, ui.playwright_instance, ui.browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CADDY_BIN = os.environ.get("DEPLOYKIT_CADDY_BIN") or shutil.which("caddy") or "/usr/bin/caddy"
HTTPD = ["sh", "-c", "mkdir -p /www; echo hello-from-web > /www/index.html; httpd -f -p 8080 -h /www"]


@pytest.fixture
def ingress_daemon(spa_built: None) -> Iterator[tuple[ui.Daemon, int, int]]:
    if not os.access(CADDY_BIN, os.X_OK):
        if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1":
            pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but no caddy at {CADDY_BIN}")
        pytest.skip(f"no caddy binary at {CADDY_BIN}")
    # Short: Caddy's admin socket lives in the data directory (sockaddr_un holds 108 bytes).
    data_dir = Path(tempfile.mkdtemp(prefix="dkl-"))
    http_port, https_port = ui.free_port(), ui.free_port()
    flags = ["--caddy-bin", CADDY_BIN, "--http-port", str(http_port), "--https-port", str(https_port)]
    flags += ["--no-https-redirect", "--reconcile-interval", "2s"]
    d = ui.start_daemon(data_dir, extra_args=flags)
    try:
        yield d, http_port, https_port
    finally:
        ui.stop_daemon(d)
        remove_engine_objects(instance_id_for(d.data_dir))
        with contextlib.suppress(OSError):
            shutil.rmtree(data_dir)


def deploy_web(api: ui.Api) -> tuple[str, str]:
    api.register("Ada Admin", "ada@example.com")
    pid = api.call("POST", "/projects", {"name": "links"}, expect=201)["id"]
    body = {"name": "web", "source": {"type": "image", "image": ui.TEST_IMAGE}, "port": 8080, "command": HTTPD}
    change = api.call("POST", f"/projects/{pid}/services", body)
    sid = api.call("POST", f"/projects/{pid}/deploy")["temp_id_to_service_id"][change["target_temp_id"]]
    host = api.call("GET", f"/projects/{pid}/services/{sid}")["domains"][0]
    return pid, host


@ui.screenshot_on_failure
def test_service_links_carry_the_ingress_port(browser: Any, ingress_daemon: tuple[ui.Daemon, int, int]) -> None:
    daemon, http_port, https_port = ingress_daemon
    e = ui.expect()
    assert daemon.health()["public_ports"] == {"http": http_port, "https": https_port}
    api = ui.Api(daemon.url)
    pid, host = deploy_web(api)
    url = f"http://{host}:{http_port}/"

    page = ui.open_canvas(browser, daemon, api, pid)
    node = page.locator('[data-testid="service-node"][data-name="web"]')
    e(node.get_by_test_id("service-node-url")).to_have_attribute("href", url)
    e(node.get_by_test_id("service-node-url")).to_have_text(host)
    e(node.get_by_test_id("service-node-open")).to_have_attribute("href", url)
    node.click()
    e(page.get_by_test_id("service-panel-open")).to_have_attribute("href", url)
    tab = page.get_by_test_id("tab-domains")
    e(tab).to_be_visible()
    tab.click()
    e(page.get_by_test_id("domain-link").first).to_have_attribute("href", url)


@pytest.mark.docker
@ui.screenshot_on_failure
def test_open_on_the_node_reaches_the_service(browser: Any, ingress_daemon: tuple[ui.Daemon, int, int]) -> None:
    daemon, http_port, _ = ingress_daemon
    ui.require_docker(daemon)
    e = ui.expect(timeout_ms=60_000)
    api = ui.Api(daemon.url)
    pid, host = deploy_web(api)

    def answers() -> bool:
        r = httpx.get(f"http://127.0.0.1:{http_port}/", headers={"Host": host}, timeout=2)
        return r.status_code == 200 and "hello-from-web" in r.text

    wait_for_sync(
        answers, within=60, interval=0.5, message=f"{host} to answer through Caddy", retry_on=(httpx.HTTPError,)
    )
    # Until the SPA knows the daemon's public ports, the node offers no link: one to the default
    # port would lead elsewhere (this daemon's HTTP port is not 80).
    page = ui.new_page(browser)
    held: list[Any] = []
    page.route("**/api/health", lambda route: held.append(route))
    ui.sign_in(page, daemon.url, api.tokens, f"/projects/{pid}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    node = page.locator('[data-testid="service-node"][data-name="web"]')
    e(node.get_by_test_id("service-node-url")).to_have_text(host)
    wait_for_sync(lambda: held, within=15, message="the SPA to ask for the daemon's ports")
    e(node.get_by_test_id("service-node-open")).to_have_count(0)
    assert node.get_by_test_id("service-node-url").get_attribute("href") is None
    for route in held:
        route.continue_()
    page.unroute("**/api/health")
    with page.expect_popup() as popup_info:
        node.get_by_test_id("service-node-open").click()
    e(popup_info.value.locator("body")).to_contain_text("hello-from-web")
