"""A daemon with ``--runtime swarm`` on the real single-node swarm, through its API and in Chromium:

- the Engine page (``GET /api/system/engine``) shows the Swarm service of a replica, its task
  container and the project's overlay network as DeployKit's (managed, with their owner), not as
  unmanaged objects, and a prune leaves them, and the Swarm service's task, as they were (no
  ``_edge`` bridge: replicas are reached on ports published on their node);
- the service panel of a service with a volume says it is pinned to one node (the manager);
- Admin → Nodes lists the manager with its role, availability and state, and the join command.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_IMAGE
from tests.e2e import ui_support as ui
from tests.e2e.support import instance_id_for, remove_engine_objects
from tests.e2e.test_backup import SLEEPER, running_container
from tests.e2e.test_swarm_traffic import remove_swarm_services
from tests.e2e.test_ui_flow import service_node
from tests.runtime_contract.conftest import swarm_problem
from tests.wait import wait_for_sync

spa_built, playwright_instance, browser = ui.spa_built, ui.playwright_instance, ui.browser

pytestmark = [pytest.mark.browser, pytest.mark.docker, pytest.mark.slow]


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=True).stdout.strip()


@pytest.fixture
def swarm_daemon(spa_built: None) -> Iterator[ui.Daemon]:
    problem = swarm_problem()
    if problem is not None:
        if os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1":
            pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    with tempfile.TemporaryDirectory(prefix="dk-ui-swarm-") as tmp:
        flags = ["--runtime", "swarm", "--no-ingress", "--reconcile-interval", "2s"]
        d = ui.start_daemon(Path(tmp), extra_args=flags)
        instance = instance_id_for(d.data_dir)
        try:
            yield d
        finally:
            ui.stop_daemon(d)
            remove_swarm_services(instance)  # before the containers: removing a task's restarts it
            remove_engine_objects(instance)


def deploy_db(api: ui.Api) -> tuple[dict[str, Any], str]:
    """Project "Swarm" with a service "db" that has a volume, deployed; the project and service id."""
    project = api.call("POST", "/projects", {"name": "Swarm"})
    pid = project["id"]
    body = {
        "name": "db",
        "source": {"type": "image", "image": TEST_IMAGE},
        "command": ["sh", "-c", SLEEPER],
        "volumes": [{"name": "data", "mount_path": "/data"}],
    }
    change = api.call("POST", f"/projects/{pid}/services", body)
    ids = api.call("POST", f"/projects/{pid}/deploy")["temp_id_to_service_id"]
    return project, ids[change["target_temp_id"]]


def by_name(usage: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in usage["data"] if o["kind"] == kind}


@ui.screenshot_on_failure
def test_swarm_objects_are_deploykits_on_the_engine_page_and_the_ui_says_pinned_and_lists_the_manager(
    browser: Any, swarm_daemon: ui.Daemon
) -> None:
    e = ui.expect(timeout_ms=30_000)
    instance = instance_id_for(swarm_daemon.data_dir)
    api = ui.Api(swarm_daemon.url)
    api.register("Ada Admin", "ada@example.com")
    project, sid = deploy_db(api)
    task = wait_for_sync(
        lambda: running_container(instance, sid), within=90, message="db's task to run", retry_on=(Exception,)
    )
    task_name = docker("inspect", "--format", "{{.Name}}", task).lstrip("/")
    swarm_service = docker("inspect", "--format", '{{index .Config.Labels "com.docker.swarm.service.name"}}', task)
    tasks_before = docker("service", "ps", "-q", swarm_service).split()
    overlay = f"dk-{project['slug']}"
    owner = {"project_id": project["id"], "project_name": "Swarm"}

    usage = api.call("GET", "/system/engine")
    container = by_name(usage, "container")[task_name]
    assert container["id"].startswith(task)
    assert container["managed"]
    assert container["owner"] == {**owner, "service_id": sid, "service_name": "db"}
    assert container["detail"] == f"running, task of Swarm service {swarm_service}"
    networks = by_name(usage, "network")
    assert networks[overlay]["managed"]
    assert networks[overlay]["owner"] == {
        **owner,
        "service_id": None,
        "service_name": None,
    }
    assert networks[overlay]["detail"] == "overlay, swarm scope"
    assert f"{overlay}_edge" not in networks
    node_id = docker("info", "--format", "{{.Swarm.NodeID}}")
    service = by_name(usage, "service")[swarm_service]
    assert service["managed"]
    assert service["owner"] == container["owner"]
    assert service["detail"] == f"1 replica(s), pinned to node {node_id[:12]}"
    volume = next(v for v in by_name(usage, "volume").values() if v["owner"] and v["owner"]["service_id"] == sid)
    assert volume["managed"]

    api.call("POST", "/system/engine/prune", {"dangling_images": True, "build_cache": True})
    assert running_container(instance, sid) == task
    assert docker("service", "ps", "-q", swarm_service).split() == tasks_before, "the prune left the task alone"
    assert overlay in docker("network", "ls", "--format", "{{.Name}}").split()

    page = ui.new_page(browser)
    ui.sign_in(page, swarm_daemon.url, api.tokens, "/admin")
    page.get_by_test_id("admin-tab-engine").click()
    row = page.get_by_test_id("engine-containers").get_by_test_id("engine-row").filter(has_text=task_name)
    e(row).to_have_attribute("data-managed", "yes")
    e(row.get_by_test_id("engine-owner")).to_have_text("Swarm / db")
    e(row).to_contain_text(f"task of Swarm service {swarm_service}")
    service_row = page.get_by_test_id("engine-services").get_by_test_id("engine-row").filter(has_text=swarm_service)
    e(service_row).to_have_attribute("data-managed", "yes")
    e(service_row.get_by_test_id("engine-owner")).to_have_text("Swarm / db")
    networks_card = page.get_by_test_id("engine-networks")
    net = networks_card.get_by_test_id("engine-row").filter(has_text=overlay).filter(has_text="overlay, swarm scope")
    e(net).to_have_attribute("data-managed", "yes")
    e(net.get_by_test_id("engine-owner")).to_have_text("Swarm")

    # Admin -> Nodes: the manager (the leader; the shared swarm may hold other helpers' workers).
    hostname = docker("info", "--format", "{{.Name}}")
    page.get_by_test_id("admin-tab-nodes").click()
    manager = page.locator(f'[data-testid="node-row"][data-hostname="{hostname}"]')
    e(manager).to_have_attribute("data-role", "manager")
    e(manager).to_have_attribute("data-availability", "active")
    e(manager).to_have_attribute("data-state", "ready")
    token = docker("swarm", "join-token", "-q", "worker")
    address = docker("info", "--format", "{{.Swarm.NodeAddr}}")
    e(page.get_by_test_id("nodes-join-command")).to_have_attribute(
        "data-value", f"docker swarm join --token {token} {address}:2377"
    )

    # The service panel: a service with a volume runs only on the manager's node.
    page.goto(f"{swarm_daemon.url}/projects/{project['id']}")
    e(page.get_by_test_id("canvas-page")).to_have_attribute("data-synced", "true")
    service_node(page, "db").click()
    page.get_by_test_id("tab-settings").click()
    pinned = page.get_by_test_id("svc-pinned")
    e(pinned).to_contain_text("Pinned to one node: volumes live on a single machine")
    e(pinned).to_contain_text(f"({hostname})")
