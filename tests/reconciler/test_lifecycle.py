"""Service and project lifecycles on the real engine: stop/start/restart, deletes, volumes,
daemon restarts, and the cost of a steady-state resync."""

from __future__ import annotations

import asyncio
import os

import pytest

from deploykit.pending_change import ChangeKind
from deploykit.runtime import volume_name
from tests.conftest import TEST_IMAGE
from tests.reconciler.support import Harness, docker_cli, http_get, httpd
from tests.wait import wait_for

pytestmark = pytest.mark.docker


async def test_stop_is_kept_across_reconciles_and_start_and_restart_bring_replicas_back(harness: Harness) -> None:
    # No periodic resync and nobody calling trigger_service(): the store's service.stopped and
    # service.started events alone wake the reconciler.
    await harness.stop()
    await harness.start(interval_s=3600)
    project = await harness.project("Stop")
    service = await harness.create_service(project, "web", port=8080, command=httpd(), replicas=2)
    await harness.wait_status(service.id, "running")

    await harness.store.services.set_service_stopped(service.id, True)
    await harness.wait_status(service.id, "stopped")

    async def none_running() -> bool:
        return not await harness.running(service.id)

    await wait_for(none_running, within=20, message="replicas stopped")
    harness.rec.trigger()
    await harness.rec.resync()
    await harness.rec.wait_idle()
    assert not await harness.running(service.id)
    assert (await harness.service(service.id)).status == "stopped"

    await harness.store.services.set_service_stopped(service.id, False)
    await harness.wait_status(service.id, "running")

    async def two_running() -> bool:
        return len(await harness.running(service.id)) == 2

    await wait_for(two_running, within=20, message="replicas started again")
    before = {
        c.id: (await harness.runtime.inspect_container(c.id)).started_at for c in await harness.running(service.id)
    }

    await harness.rec.restart_service(service.id)

    after = {
        c.id: (await harness.runtime.inspect_container(c.id)).started_at for c in await harness.running(service.id)
    }
    assert set(after) == set(before)
    assert all(a is not None and b is not None and a > b for a, b in ((after[i], before[i]) for i in after))


async def test_deleted_service_and_project_leave_nothing_behind(harness: Harness) -> None:
    project = await harness.project("Gone")
    web = await harness.create_service(
        project, "web", port=8080, command=httpd(), volumes=[{"name": "data", "mount_path": "/data"}]
    )
    db = await harness.create_service(
        project, "db", command=["sleep", "3600"], volumes=[{"name": "db", "mount_path": "/db"}]
    )
    await harness.wait_status(web.id, "running")
    await harness.wait_status(db.id, "running")
    web_volume = volume_name(project.slug, web.slug, "data")
    assert web_volume in await harness.runtime.list_volumes()

    await harness.stage(project, ChangeKind.SERVICE_DELETE, {}, target_id=web.id)
    await harness.apply(project)

    async def web_gone() -> bool:
        return (
            not await harness.containers(service_id=web.id) and web_volume not in await harness.runtime.list_volumes()
        )

    await wait_for(web_gone, within=20, message="the deleted service's containers and volume to go")
    assert await harness.running(db.id)

    # Images as the builder labels them: this project's (two tags), and another project's.
    built = f"deploykit/{project.slug}_web:{harness.instance_id[-12:]}"
    other = f"deploykit/other_web:{harness.instance_id[-12:]}"
    await build_labelled_image(built, {"deploykit.project-id": project.id, "deploykit.instance": harness.instance_id})
    await docker_cli("tag", built, f"{built}-again")
    await build_labelled_image(other, {"deploykit.project-id": "another", "deploykit.instance": harness.instance_id})

    await harness.store.projects.delete_project(project.id)

    async def project_gone() -> bool:
        networks = {n.name for n in await harness.runtime.list_networks()}
        volumes = await harness.runtime.list_volume_infos()
        return (
            not await harness.containers(project_id=project.id)
            and project.network_name not in networks
            and not [v for v in volumes if v.labels.get("deploykit.project-id") == project.id]
        )

    await wait_for(project_gone, within=20, message="the deleted project's containers, network and volumes to go")
    await wait_for(lambda: image_missing(built), within=20, message="the deleted project's built image to go")
    try:
        assert await image_missing(f"{built}-again")
        assert not await image_missing(other)  # found by labels: another project's stays
    finally:
        await docker_cli("rmi", "-f", other, check=False)


async def build_labelled_image(tag: str, labels: dict[str, str]) -> None:
    flags = [arg for k, v in {"managed-by": "deploykit", **labels}.items() for arg in ("--label", f"{k}={v}")]
    proc = await asyncio.create_subprocess_exec(
        "docker", "build", "-q", "-t", tag, *flags, "-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(f"FROM {TEST_IMAGE}\n".encode()), 120)
    assert proc.returncode == 0, err.decode(errors="replace")


async def image_missing(ref: str) -> bool:
    return not (await docker_cli("image", "ls", "-q", ref)).strip()


async def test_file_in_a_volume_survives_redeploy_and_rollback(harness: Harness) -> None:
    project = await harness.project("Vol")
    service = await harness.create_service(
        project,
        "files",
        port=8080,
        command=["sh", "-c", "exec httpd -f -p 8080 -h /data"],
        volumes=[{"name": "data", "mount_path": "/data"}],
    )
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy")
    (c,) = await harness.running(service.id)
    await docker_cli("exec", c.id, "sh", "-c", "echo kept > /data/note.txt")

    async def note_served(deployment_id: str) -> bool:
        running = await harness.running(service.id, deployment_id)
        if len(running) != 1 or running[0].ip_address is None:
            return False
        return await http_get(running[0].ip_address, 8080, "/note.txt") == (200, "kept\n")

    redeploy = await harness.store.deployments.redeploy(service.id, None)
    await harness.wait_deployment(redeploy.id, "healthy")
    await wait_for(lambda: note_served(redeploy.id), within=20, message="the note after redeploy")
    assert len(await harness.containers(service_id=service.id)) == 1
    # Stop-first: two writers never shared the volume.
    log = await harness.store.deployments.get_log(redeploy.id)
    assert log.index("stopping the previous replicas first") < log.index("started replica 0")

    rollback = await harness.store.deployments.rollback(service.id, first.id, None)
    await harness.wait_deployment(rollback.id, "healthy")
    await wait_for(lambda: note_served(rollback.id), within=20, message="the note after rollback")


async def test_restarting_the_daemon_mid_rollout_converges(harness: Harness) -> None:
    # A daemon that does not wait for work in progress when it stops.
    await harness.stop()
    await harness.start(shutdown_timeout_s=0.01)
    project = await harness.project("Restart")
    ready_later = "(sleep 1.5; echo ok > /www/ready.txt) &"
    check = {"type": "http", "path": "/ready.txt", "interval_s": 0.3, "timeout_s": 0.3, "unhealthy_threshold": 10}
    service = await harness.create_service(
        project, "web", port=8080, command=httpd(before=ready_later), health_check=check
    )
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy")

    second = (await harness.update_service(service, replicas=2)).created_deployments[0]
    await harness.wait_deployment(second, "starting")

    async def new_replicas_started() -> bool:
        return len(await harness.running(service.id, second)) == 2

    await wait_for(new_replicas_started, within=20, message="the new replicas to start")
    # The daemon goes away mid-rollout: the readiness wait is cancelled, nothing is marked.
    await harness.stop()
    assert (await harness.deployment(second)).status == "starting"

    await harness.start()
    await harness.wait_deployment(second, "healthy")

    async def converged() -> bool:
        cs = await harness.containers(service_id=service.id)
        return len(cs) == 2 and all(c.deployment_id == second and c.state == "running" for c in cs)

    await wait_for(converged, within=20, message="only the new deployment's two replicas")
    assert (await harness.deployment(first.id)).status == "superseded"
    await harness.wait_status(service.id, "running")


async def test_steady_state_resync_costs_one_container_list_and_no_inspects(harness: Harness) -> None:
    project = await harness.project("Steady")
    services = [await harness.create_service(project, f"s{i}", port=8080, command=httpd()) for i in range(3)]
    for s in services:
        await harness.wait_status(s.id, "running")
    await harness.rec.wait_idle()

    async def quiet() -> bool:
        report = await harness.rec.resync()
        await harness.rec.wait_idle()
        return not report.queued

    await wait_for(quiet, within=20, message="a resync that queues nothing")
    harness.runtime.api_calls.clear()

    report = await harness.rec.resync()

    assert report.queued == []
    assert dict(harness.runtime.api_calls) == {"container_list": 1, "network_list": 1}
