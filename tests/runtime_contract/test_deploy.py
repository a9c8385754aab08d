"""Deploy, reach by name, scale, update: both runtimes."""

from __future__ import annotations

import pytest

from deploykit.runtime import LABEL_DEPLOYMENT_ID, LABEL_MANAGED_BY, LABEL_SERVICE_ID, container_name
from tests.reconciler.support import Harness, http_get, httpd
from tests.wait import wait_for

pytestmark = pytest.mark.docker


async def test_deploy_runs_the_service_with_labels_env_and_an_address_caddy_can_reach(harness: Harness) -> None:
    project = await harness.project("Shop")
    service = await harness.create_service(
        project,
        "web",
        port=8080,
        command=httpd(before='echo "$GREETING" > /www/greeting.txt;'),
        env_vars={"GREETING": "hello"},
        resources={"cpus": 0.5, "memory_mb": 64},
    )
    (deployment,) = await harness.deployments(service.id)
    await harness.wait_status(service.id, "running", within=40)
    deployment = await harness.wait_deployment(deployment.id, "healthy")
    (c,) = await harness.running(service.id)
    assert c.name == container_name(project.slug, service.slug, 0, deployment.id)
    assert c.labels[LABEL_MANAGED_BY] == "deploykit"
    assert c.labels[LABEL_SERVICE_ID] == service.id
    assert c.labels[LABEL_DEPLOYMENT_ID] == deployment.id
    assert c.ip_address is not None
    # Reached from the host (where Caddy runs) at the service's own port.
    assert await http_get(c.ip_address, c.port_for(8080), "/greeting.txt") == (200, "hello\n")
    (record,) = await harness.records(service.id)
    assert (record.id, record.state, record.ip_address) == (c.id, "running", c.ip_address)


async def test_a_service_reaches_another_by_name(harness: Harness) -> None:
    project = await harness.project("Refs")
    api = await harness.create_service(project, "api", port=8080, command=httpd())
    client = await harness.create_service(
        project,
        "client",
        port=8081,
        env_vars={"TARGET": "${{api.HOST}}:${{api.PORT}}"},
        command=httpd(8081, before="(while true; do wget -q -O /www/fetched.txt http://$TARGET/; sleep 0.2; done) &"),
    )
    await harness.wait_status(api.id, "running", within=40)
    await harness.wait_status(client.id, "running", within=40)
    (c,) = await harness.running(client.id)
    assert c.ip_address is not None
    ip, port = c.ip_address, c.port_for(8081)

    async def fetched() -> tuple[int, str] | None:
        answer = await http_get(ip, port, "/fetched.txt")
        return answer if answer is not None and answer[0] == 200 else None

    assert await wait_for(fetched, within=20, message="client fetched api by name") == (200, "deploykit test image\n")


async def test_scale_up_and_down(harness: Harness) -> None:
    project = await harness.project("Scale")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running", within=40)
    await harness.update_service(service, replicas=3)

    async def count(n: int) -> bool:
        running = await harness.running(service.id)
        return len(running) == n and (await harness.service(service.id)).status == "running"

    await wait_for(lambda: count(3), within=60, message="3 replicas running")
    await harness.update_service(service, replicas=1)
    await wait_for(lambda: count(1), within=60, message="1 replica running")
    assert len(await harness.containers(service_id=service.id)) == 1


async def test_update_replaces_the_replicas_and_serves_the_new_version(harness: Harness) -> None:
    project = await harness.project("Env")
    service = await harness.create_service(
        project, "web", port=8080, replicas=2, command=httpd(before='echo "$COLOR" > /www/color.txt;'),
        env_vars={"COLOR": "blue"},
    )  # fmt: skip
    await harness.wait_status(service.id, "running", within=40)
    before = {c.id for c in await harness.running(service.id)}
    result = await harness.set_env(service, "COLOR", "green")
    (new_id,) = result.created_deployments
    await harness.wait_deployment(new_id, "healthy", within=60)

    async def replaced() -> bool:
        running = await harness.running(service.id)
        return len(running) == 2 and all(c.deployment_id == new_id for c in running)

    await wait_for(replaced, within=30, message="old replicas gone")
    after = await harness.running(service.id)
    assert not before & {c.id for c in after}
    for c in after:
        assert c.ip_address is not None
        assert await http_get(c.ip_address, c.port_for(8080), "/color.txt") == (200, "green\n")
