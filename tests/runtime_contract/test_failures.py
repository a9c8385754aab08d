"""Rollback, crash loop, drift (a killed container or task), steady resync: both runtimes."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from deploykit.runtime import LABEL_INSTANCE, ContainerSpec, ContainerState, container_labels, managed_labels
from deploykit.service import Service
from deploykit_swarm import SwarmSettings
from tests.reconciler.support import INDEX, Harness, docker_cli, http_get, httpd
from tests.runtime_contract.conftest import engine_container, open_runtime
from tests.wait import wait_for

pytestmark = pytest.mark.docker


async def serving(harness: Harness, service: Service, deployment_id: str | None = None) -> ContainerState:
    """The service's one running replica, answering HTTP."""

    async def check() -> ContainerState | None:
        running = await harness.running(service.id, deployment_id)
        if len(running) != 1 or running[0].ip_address is None:
            return None
        answer = await http_get(running[0].ip_address, running[0].port_for(8080), "/")
        return running[0] if answer == (200, f"{INDEX}\n") else None

    return await wait_for(check, within=40, message=f"{service.name} serving HTTP")


async def test_crash_looping_update_fails_with_exit_code_and_logs_while_previous_keeps_serving(
    harness: Harness,
) -> None:
    project = await harness.project("Crash")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running", within=40)
    (first,) = await harness.deployments(service.id)
    good = await serving(harness, service, first.id)

    result = await harness.update_service(service, command=["sh", "-c", "echo boom-$((6*7)); exit 3"])
    (bad_id,) = result.created_deployments
    bad = await harness.wait_deployment(bad_id, "failed", within=60)

    assert bad.exit_code == 3
    assert bad.failure_reason is not None
    assert "exited with code 3" in bad.failure_reason
    assert bad.log_tail is not None
    assert "boom-42" in bad.log_tail
    assert (await serving(harness, service, first.id)).id == good.id
    assert (await harness.deployment(first.id)).status == "healthy"
    after = await harness.wait_status(service.id, "running")
    assert after.active_deployment_id == first.id

    async def bad_gone() -> bool:
        return [c.deployment_id for c in await harness.containers(service_id=service.id)] == [first.id]

    await wait_for(bad_gone, within=20, message="the failed deployment's replicas removed")


async def test_rollback_runs_the_older_deployment_again_through_the_gate(harness: Harness) -> None:
    project = await harness.project("Rollback")
    service = await harness.create_service(project, "web", port=8080, command=httpd(), env_vars={"V": "1"})
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy", within=40)
    second_id = (await harness.set_env(service, "V", "2")).created_deployments[0]
    await harness.wait_deployment(second_id, "healthy", within=40)
    await harness.wait_deployment(first.id, "superseded")

    rollback = await harness.store.deployments.rollback(service.id, first.id, None)
    healthy = await harness.wait_deployment(rollback.id, "healthy", within=40)

    assert healthy.env_vars == {"V": "1"}
    assert (await serving(harness, service, rollback.id)).deployment_id == rollback.id
    assert (await harness.service(service.id)).active_deployment_id == rollback.id


async def test_drift_a_killed_container_is_replaced_and_recorded(harness: Harness, runtime_kind: str) -> None:
    project = await harness.project("Kill")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    await harness.wait_status(service.id, "running", within=40)
    victim = await serving(harness, service)
    victim_engine_id = await engine_container(runtime_kind, victim.id)

    await docker_cli("kill", victim_engine_id)

    async def replaced() -> ContainerState | None:
        c = await serving(harness, service)
        if runtime_kind == "swarm" and c.restart_count < 1:
            return None  # Swarm replaced the task inside the same service: it counts as a restart
        return c if await engine_container(runtime_kind, c.id) != victim_engine_id else None

    replacement = await wait_for(replaced, within=40, message="a replacement serving")
    assert replacement.deployment_id == victim.deployment_id

    async def only_one() -> bool:
        # The killed one goes once its replacement started, which may answer before that removal ends.
        return len(await harness.containers(service_id=service.id)) == 1

    await wait_for(only_one, within=20, message="the killed container to be removed")
    await harness.wait_status(service.id, "running")

    async def records_follow() -> bool:
        # Against what runs now: on a loaded machine Swarm may restart the task once more meanwhile.
        now = [c for c in await harness.running(service.id) if c.id == replacement.id]
        records = await harness.records(service.id)
        return bool(now) and [(r.id, r.state, r.ip_address, r.restart_count) for r in records] == [
            (now[0].id, "running", now[0].ip_address, now[0].restart_count)
        ]

    await wait_for(records_follow, within=20, message="container records to follow the replacement")


async def test_steady_resync_costs_a_few_list_calls_and_no_inspects(harness: Harness) -> None:
    project = await harness.project("Steady")
    services = [await harness.create_service(project, f"s{i}", port=8080, command=httpd()) for i in range(3)]
    for s in services:
        await harness.wait_status(s.id, "running", within=40)
    await harness.rec.wait_idle()

    async def quiet() -> bool:
        report = await harness.rec.resync()
        await harness.rec.wait_idle()
        return not report.queued

    await wait_for(quiet, within=30, message="a resync that queues nothing")
    harness.runtime.api_calls.clear()

    report = await harness.rec.resync()

    assert report.queued == []
    calls = dict(harness.runtime.api_calls)
    assert not [op for op in calls if "inspect" in op]
    assert sum(calls.values()) <= 4, calls


async def test_a_crash_looped_swarm_replica_is_removed_without_waiting_out_its_task_history(
    test_image: str,
) -> None:
    # A crash loop leaves the slot a history of failed tasks that Swarm's task reaper never deletes
    # (only the task a scale-down marks ``remove``). Removal waits for the reaper, not for them:
    # with a removal timeout of an hour, it still returns (it used to wait the timeout out, and
    # a failed deployment's service showed "deploying" meanwhile).
    runtime, closers = await open_runtime("swarm", SwarmSettings(remove_timeout_s=3600))
    tag = f"t{uuid.uuid4().hex[:10]}"
    network = f"dk-{tag}-net"
    labels = {**container_labels("p-" + tag, "s-" + tag, "d-" + tag, 0), LABEL_INSTANCE: tag}
    try:
        await runtime.ensure_network(network, {**managed_labels(), LABEL_INSTANCE: tag})
        spec = ContainerSpec(
            name=f"dk-{tag}-loop", image=test_image, labels=labels, network=network, command=["sh", "-c", "exit 3"]
        )
        replica = await runtime.run_container(spec)

        async def history() -> bool:
            return len((await docker_cli("service", "ps", "-q", replica.id)).split()) >= 3

        await wait_for(history, within=60, message="three tasks of the crash-looping replica")
        await asyncio.wait_for(runtime.remove_container(replica.id), timeout=120)
        assert (await docker_cli("service", "ls", "-q", "--filter", f"label={LABEL_INSTANCE}={tag}")).split() == []
        assert (await docker_cli("ps", "-aq", "--filter", f"label={LABEL_INSTANCE}={tag}")).split() == []
    finally:
        for c in await runtime.list_containers():
            if c.labels.get(LABEL_INSTANCE) == tag:
                await runtime.remove_container(c.id)
        await runtime.remove_network(network)
        for closer in closers:
            await closer.close()
