"""Logs, stop/start/restart, volumes (pinned, stop-first, kept), delete: both runtimes."""

from __future__ import annotations

from datetime import datetime

import pytest

from deploykit.logs import LogStreamer
from deploykit.pending_change import ChangeKind
from deploykit.runtime import volume_name
from tests.reconciler.support import Harness, docker_cli, http_get, httpd
from tests.runtime_contract.conftest import engine_container
from tests.wait import wait_for

pytestmark = pytest.mark.docker


async def test_logs_of_a_replica(harness: Harness) -> None:
    project = await harness.project("Logs")
    service = await harness.create_service(project, "web", port=8080, command=httpd(before="echo hello-$((6*7));"))
    await harness.wait_status(service.id, "running", within=40)
    (c,) = await harness.running(service.id)
    logs: LogStreamer = harness.runtime

    async def logged() -> bool:
        return any(line.line == "hello-42" and line.ts is not None for line in await logs.tail(c.id, 20))

    await wait_for(logged, within=20, message="the replica's log line")


async def test_stop_start_and_restart(harness: Harness) -> None:
    project = await harness.project("Stop")
    service = await harness.create_service(project, "web", port=8080, command=httpd(), replicas=2)
    await harness.wait_status(service.id, "running", within=40)

    await harness.store.services.set_service_stopped(service.id, True)
    await harness.wait_status(service.id, "stopped", within=40)

    async def none_running() -> bool:
        return not await harness.running(service.id)

    await wait_for(none_running, within=30, message="replicas stopped")

    await harness.store.services.set_service_stopped(service.id, False)
    await harness.wait_status(service.id, "running", within=40)

    async def two_running() -> bool:
        running = await harness.running(service.id)
        return len(running) == 2 and all(c.ip_address for c in running)

    await wait_for(two_running, within=40, message="replicas started again")

    async def started() -> dict[str, datetime | None]:
        # The engine's container list carries no start time: inspect each.
        return {
            c.id: (await harness.runtime.inspect_container(c.id)).started_at for c in await harness.running(service.id)
        }

    before = await started()

    await harness.rec.restart_service(service.id)

    async def restarted() -> bool:
        after = await started()
        return set(after) == set(before) and all(
            a is not None and b is not None and a > b for a, b in ((after[i], before[i]) for i in after)
        )

    await wait_for(restarted, within=40, message="every replica restarted")


async def test_volume_is_kept_over_a_stop_first_redeploy_and_the_replica_is_pinned(
    harness: Harness, runtime_kind: str
) -> None:
    project = await harness.project("Vol")
    service = await harness.create_service(
        project,
        "files",
        port=8080,
        command=["sh", "-c", "exec httpd -f -p 8080 -h /data"],
        volumes=[{"name": "data", "mount_path": "/data"}],
    )
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy", within=40)
    (c,) = await harness.running(service.id)
    if runtime_kind == "swarm":
        node = (await docker_cli("info", "--format", "{{.Swarm.NodeID}}")).strip()
        assert c.labels["deploykit.node"] == node
        constraints = await docker_cli("service", "inspect", c.id, "--format", "{{.Spec.TaskTemplate.Placement}}")
        assert f"node.id=={node}" in constraints
    await docker_cli("exec", await engine_container(runtime_kind, c.id), "sh", "-c", "echo kept > /data/note.txt")

    async def note_served(deployment_id: str) -> bool:
        running = await harness.running(service.id, deployment_id)
        if len(running) != 1 or running[0].ip_address is None:
            return False
        got = await http_get(running[0].ip_address, running[0].port_for(8080), "/note.txt")
        return got == (200, "kept\n")

    redeploy = await harness.store.deployments.redeploy(service.id, None)
    await harness.wait_deployment(redeploy.id, "healthy", within=40)
    await wait_for(lambda: note_served(redeploy.id), within=30, message="the note after redeploy")
    log = await harness.store.deployments.get_log(redeploy.id)
    assert log.index("stopping the previous replicas first") < log.index("started replica 0")


async def test_deleted_service_and_project_leave_nothing_behind(harness: Harness) -> None:
    project = await harness.project("Gone")
    web = await harness.create_service(
        project, "web", port=8080, command=httpd(), volumes=[{"name": "data", "mount_path": "/data"}]
    )
    db = await harness.create_service(project, "db", command=["sleep", "3600"])
    await harness.wait_status(web.id, "running", within=40)
    await harness.wait_status(db.id, "running", within=40)
    web_volume = volume_name(project.slug, web.slug, "data")

    await harness.stage(project, ChangeKind.SERVICE_DELETE, {}, target_id=web.id)
    await harness.apply(project)

    async def web_gone() -> bool:
        return (
            not await harness.containers(service_id=web.id) and web_volume not in await harness.runtime.list_volumes()
        )

    await wait_for(web_gone, within=40, message="the deleted service's replicas and volume to go")
    assert await harness.running(db.id)

    await harness.store.projects.delete_project(project.id)

    async def project_gone() -> bool:
        networks = {n.name for n in await harness.runtime.list_networks()}
        return not await harness.containers(project_id=project.id) and project.network_name not in networks

    await wait_for(project_gone, within=60, message="the deleted project's replicas and network to go")
