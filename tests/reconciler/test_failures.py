"""Failures and drift on the real engine: bad deployments, rollback, killed containers, lost networks."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from deploykit.bus import EventType
from deploykit.runtime import ContainerState
from deploykit.service import Service
from tests.reconciler.support import INDEX, Harness, docker_cli, http_get, httpd
from tests.wait import wait_for

pytestmark = pytest.mark.docker


async def serving(harness: Harness, service: Service, deployment_id: str | None = None) -> ContainerState:
    """The service's one running replica, answering HTTP."""

    async def check() -> ContainerState | None:
        running = await harness.running(service.id, deployment_id)
        if len(running) != 1 or running[0].ip_address is None:
            return None
        answer = await http_get(running[0].ip_address, 8080, "/")
        return running[0] if answer == (200, f"{INDEX}\n") else None

    return await wait_for(check, within=20, message=f"{service.name} serving HTTP")


async def test_crash_looping_image_fails_with_exit_code_and_log_tail_while_previous_keeps_serving(
    harness: Harness,
) -> None:
    project = await harness.project("Crash")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running")
    (first,) = await harness.deployments(service.id)
    good = await serving(harness, service, first.id)

    result = await harness.update_service(service, command=["sh", "-c", "echo boom-$((6*7)); echo oops >&2; exit 3"])
    (bad_id,) = result.created_deployments
    bad = await harness.wait_deployment(bad_id, "failed")

    assert bad.exit_code == 3
    assert bad.failure_reason is not None
    assert "exited with code 3" in bad.failure_reason
    assert bad.log_tail is not None
    assert "boom-42" in bad.log_tail
    assert "oops" in bad.log_tail
    # The previous healthy deployment kept serving from the very same container.
    assert (await serving(harness, service, first.id)).id == good.id
    assert (await harness.deployment(first.id)).status == "healthy"
    after = await harness.wait_status(service.id, "running")
    assert after.active_deployment_id == first.id
    assert [c.deployment_id for c in await harness.containers(service_id=service.id)] == [first.id]


async def test_replica_that_answers_then_crashes_in_a_restart_loop_fails_promptly(harness: Harness) -> None:
    # Slow to become ready (four passes half a second apart), quick to fail: every run of the bad
    # command answers its check once or twice before it exits and Docker (unless-stopped) starts
    # it again. Failing checks in the start period do not count; only the rising restart count.
    check = {"type": "http", "path": "/", "interval_s": 0.5, "timeout_s": 0.5, "healthy_threshold": 4}
    check["start_period_s"] = 20.0
    project = await harness.project("Flaky")
    service = await harness.create_service(project, "web", port=8080, command=httpd(), health_check=check)
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy")
    good = await serving(harness, service, first.id)

    answers_then_crashes = [
        "sh",
        "-c",
        f"mkdir -p /www; echo '{INDEX}' > /www/index.html; "
        "httpd -f -p 8080 -h /www & sleep 1; echo crash-$((6*7)); exit 3",
    ]
    began = time.monotonic()
    result = await harness.update_service(service, command=answers_then_crashes, restart_policy="unless-stopped")
    (bad_id,) = result.created_deployments
    bad = await harness.wait_deployment(bad_id, "failed", within=15)

    assert time.monotonic() - began < 15
    assert bad.exit_code == 3
    assert bad.failure_reason is not None
    assert bad.failure_reason.startswith("exited with code 3; restarted ")
    assert bad.log_tail is not None
    assert "crash-42" in bad.log_tail
    assert (await serving(harness, service, first.id)).id == good.id
    assert (await harness.deployment(first.id)).status == "healthy"
    assert (await harness.wait_status(service.id, "running")).active_deployment_id == first.id
    assert [c.deployment_id for c in await harness.containers(service_id=service.id)] == [first.id]


async def test_rollback_runs_the_older_deployment_again_through_the_gate(harness: Harness) -> None:
    project = await harness.project("Rollback")
    service = await harness.create_service(project, "web", port=8080, command=httpd(), env_vars={"V": "1"})
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy")
    second_id = (await harness.set_env(service, "V", "2")).created_deployments[0]
    await harness.wait_deployment(second_id, "healthy")
    await harness.wait_deployment(first.id, "superseded")

    rollback = await harness.store.deployments.rollback(service.id, first.id, None)
    healthy = await harness.wait_deployment(rollback.id, "healthy")

    assert healthy.env_vars == {"V": "1"}
    c = await serving(harness, service, rollback.id)
    assert c.deployment_id == rollback.id
    assert (await harness.deployment(second_id)).status == "superseded"
    assert (await harness.service(service.id)).active_deployment_id == rollback.id


async def test_killed_container_is_replaced(harness: Harness) -> None:
    project = await harness.project("Kill")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running")
    victim = await serving(harness, service)

    await docker_cli("kill", victim.id)

    replacement = await serving(harness, service)
    assert replacement.id != victim.id
    assert replacement.deployment_id == victim.deployment_id
    # Started while the killed one still held the name; that one goes once its replacement started.
    assert replacement.name == f"{victim.name}_2"

    async def only_the_replacement() -> bool:
        return [c.id for c in await harness.containers(service_id=service.id)] == [replacement.id]

    await wait_for(only_the_replacement, within=20, message="the killed container to be removed")
    await harness.wait_status(service.id, "running")

    async def records_follow() -> bool:
        return [r.id for r in await harness.records(service.id)] == [replacement.id]

    await wait_for(records_follow, within=20, message="container records to follow the replacement")


async def test_a_stopped_replica_stays_until_its_replacement_starts(harness: Harness) -> None:
    """A replacement that cannot start (here: its image is gone; on an engine that is shutting
    down, every start is refused) leaves the stopped container in place, for the engine to restart
    it by its restart policy when it comes back; once a replacement starts, the old one goes."""
    image = f"deploykit-test/replaced-{uuid.uuid4().hex[:8]}:1"  # not :latest, so never re-pulled
    await docker_cli("tag", harness.image, image)
    try:
        project = await harness.project("Stays")
        service = await harness.create_service(
            project, "web", port=8080, command=httpd(), source={"type": "image", "image": image}
        )
        await harness.wait_status(service.id, "running")
        victim = await serving(harness, service)
        await docker_cli("rmi", "-f", image)  # untagged: the running container keeps its layers

        await docker_cli("kill", victim.id)

        async def refused() -> bool:
            return harness.rec.queue.failures(f"service:{service.id}") > 0

        await wait_for(refused, within=20, message="a replacement that could not start")
        (kept,) = await harness.containers(service_id=service.id)
        assert (kept.id, kept.state) == (victim.id, "exited")

        await docker_cli("tag", harness.image, image)
        harness.rec.queue.retry_now()
        replacement = await serving(harness, service)

        async def only_the_replacement() -> bool:
            return [c.id for c in await harness.containers(service_id=service.id)] == [replacement.id]

        await wait_for(only_the_replacement, within=20, message="the stopped container to go")
    finally:
        await docker_cli("rmi", "-f", image, check=False)


async def test_deleted_network_is_recreated(harness: Harness) -> None:
    # No periodic resync to fall back on: the network events alone must bring it back.
    await harness.stop()
    await harness.start(interval_s=3600)
    project = await harness.project("Net")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running")
    victim = await serving(harness, service)

    await docker_cli("network", "disconnect", "-f", project.network_name, victim.id)
    await docker_cli("network", "rm", project.network_name)

    async def network_back() -> bool:
        return project.network_name in {n.name for n in await harness.runtime.list_networks()}

    await wait_for(network_back, within=5, message="the project network to come back")
    replacement = await serving(harness, service)
    assert replacement.ip_address is not None
    await harness.wait_status(service.id, "running")


async def test_missing_image_fails_the_deployment_while_previous_keeps_serving(harness: Harness) -> None:
    project = await harness.project("Missing")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running")
    (first,) = await harness.deployments(service.id)
    result = await harness.update_service(service, source={"type": "image", "image": "deploykit-test/nope:1.0"})
    (bad_id,) = result.created_deployments
    bad = await harness.wait_deployment(bad_id, "failed")
    assert bad.failure_reason is not None
    assert "deploykit-test/nope:1.0" in bad.failure_reason
    await serving(harness, service, first.id)
    assert (await harness.service(service.id)).active_deployment_id == first.id


async def test_a_serving_replica_that_starts_crash_looping_is_announced(harness: Harness) -> None:
    project = await harness.project("Loop")
    # Serves on its first run; every later run finds the marker on its volume and exits at once.
    command = httpd(before="[ -f /data/up ] && exit 3; touch /data/up;")
    loops = harness.bus.subscribe(frozenset({EventType.SERVICE_CRASH_LOOP}))
    service = await harness.create_service(
        project, "web", port=8080, command=command, volumes=[{"name": "data", "mount_path": "/data"}]
    )
    await harness.wait_status(service.id, "running")  # healthy: its deployment is the active one
    victim = await serving(harness, service)

    await docker_cli("kill", victim.id)

    event = await asyncio.wait_for(anext(loops), 60)
    assert (event.service_id, event.payload["deployment_id"]) == (service.id, victim.deployment_id)
    assert event.payload["replica_index"] == 0
    assert event.payload["restarts"] >= harness.settings.bad_observations
    loops.close()
