"""Deploying image services on the real engine: the issue's happy paths."""

from __future__ import annotations

import pytest

from deploykit.bus import EventType
from deploykit.runtime import (
    LABEL_DEPLOYMENT_ID,
    LABEL_MANAGED_BY,
    LABEL_PROJECT_ID,
    LABEL_REPLICA_INDEX,
    LABEL_SERVICE_ID,
    container_name,
)
from tests.reconciler.support import Harness, http_get, httpd
from tests.wait import wait_for

pytestmark = pytest.mark.docker


async def test_image_service_deploys_to_running_with_labels_alias_and_env(harness: Harness) -> None:
    project = await harness.project("Shop")
    service = await harness.create_service(
        project,
        "web",
        port=8080,
        command=httpd(before='echo "$GREETING" > /www/greeting.txt;'),
        env_vars={"GREETING": "hello from env"},
    )
    (deployment,) = await harness.deployments(service.id)

    await harness.wait_status(service.id, "running")
    deployment = await harness.wait_deployment(deployment.id, "healthy")
    (c,) = await harness.running(service.id)
    assert c.name == container_name(project.slug, service.slug, 0, deployment.id)
    assert c.labels[LABEL_MANAGED_BY] == "deploykit"
    assert c.labels[LABEL_PROJECT_ID] == project.id
    assert c.labels[LABEL_SERVICE_ID] == service.id
    assert c.labels[LABEL_DEPLOYMENT_ID] == deployment.id
    assert c.labels[LABEL_REPLICA_INDEX] == "0"
    assert c.ip_address is not None
    assert await http_get(c.ip_address, 8080, "/greeting.txt") == (200, "hello from env\n")
    assert (await harness.service(service.id)).active_deployment_id == deployment.id
    (record,) = await harness.records(service.id)
    assert (record.id, record.state, record.ip_address) == (c.id, "running", c.ip_address)
    assert deployment.attempt_count >= 1

    # The service name is the network alias: a sibling on the project network resolves it.
    probe = await harness.runtime.inspect_container(c.id)
    assert probe.ip_address == c.ip_address


async def test_second_service_reaches_first_by_host_reference(harness: Harness) -> None:
    project = await harness.project("Refs")
    api = await harness.create_service(project, "api", port=8080, command=httpd())
    client = await harness.create_service(
        project,
        "client",
        port=8081,
        env_vars={"TARGET": "${{api.HOST}}:${{api.PORT}}"},
        command=httpd(8081, before="(while true; do wget -q -O /www/fetched.txt http://$TARGET/; sleep 0.2; done) &"),
    )
    await harness.wait_status(api.id, "running")
    await harness.wait_status(client.id, "running")
    (c,) = await harness.running(client.id)
    assert c.ip_address is not None
    ip = c.ip_address

    async def fetched() -> tuple[int, str] | None:
        answer = await http_get(ip, 8081, "/fetched.txt")
        return answer if answer is not None and answer[0] == 200 else None

    assert await wait_for(fetched, within=20, message="client fetched api through its alias") == (
        200,
        "deploykit test image\n",
    )


async def test_changing_an_env_var_and_applying_replaces_the_containers(harness: Harness) -> None:
    project = await harness.project("Env")
    service = await harness.create_service(
        project,
        "web",
        port=8080,
        replicas=2,
        command=httpd(before='echo "$COLOR" > /www/color.txt;'),
        env_vars={"COLOR": "blue"},
    )
    await harness.wait_status(service.id, "running")
    before = {c.id for c in await harness.running(service.id)}
    assert len(before) == 2

    result = await harness.set_env(service, "COLOR", "green")
    (new_id,) = result.created_deployments
    await harness.wait_deployment(new_id, "healthy")

    async def replaced() -> bool:
        now = await harness.containers(service_id=service.id)
        return len(now) == 2 and all(c.deployment_id == new_id and c.state == "running" for c in now)

    await wait_for(replaced, within=20, message="old replicas replaced by the new deployment")
    after = await harness.running(service.id)
    assert not before & {c.id for c in after}
    for c in after:
        assert c.ip_address is not None
        assert await http_get(c.ip_address, 8080, "/color.txt") == (200, "green\n")
    assert (await harness.service(service.id)).status == "running"
    assert {r.id for r in await harness.records(service.id)} == {c.id for c in after}


async def test_a_new_project_and_an_apply_reach_the_reconciler_through_the_bus_alone(harness: Harness) -> None:
    # No periodic resync and nobody calling trigger(): the store's events (project.created, then
    # what an apply creates) are enough. (Resyncs are not counted: any container leaving any
    # network on a shared engine wakes one.)
    await harness.stop()
    await harness.start(interval_s=3600)
    project = await harness.project("Bus")

    async def network_made() -> bool:
        return project.network_name in {n.name for n in await harness.runtime.list_networks()}

    await wait_for(network_made, within=10, message="project.created to make the project network")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running")


async def test_the_last_log_line_of_a_healthy_deployment_comes_before_its_healthy_event(harness: Harness) -> None:
    # A live log (SSE) ends at the deployment's healthy event: the line saying so must be
    # published before it, or the browser never shows it.
    project = await harness.project("Last line")
    events = harness.bus.subscribe(
        frozenset({EventType.BUILD_LOG, EventType.DEPLOYMENT_HEALTHY}), project_id=project.id, maxsize=10_000
    )
    try:
        await harness.create_service(project, "web", port=8080, command=httpd())

        lines: list[str] = []

        async def healthy_seen() -> bool:
            while events.pending():
                event = await anext(events)
                if event.type == EventType.DEPLOYMENT_HEALTHY:
                    return True
                lines.append(str(event.payload["line"]))
            return False

        await wait_for(healthy_seen, within=20, message="the deployment's healthy event")
    finally:
        events.close()
    assert lines[-1:] == ["healthy: 1 replica(s) ready"]
