"""DeploymentService: lifecycle, cancellation of older in-flight ones, redeploy and rollback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from deploykit.bus import EventType
from deploykit.deployment import (
    LOG_TAIL_BYTES,
    DeploymentCreate,
    DeploymentFailure,
    DeploymentFilter,
    DeploymentLog,
    DeploymentStatus,
)
from deploykit.errors import Error
from deploykit.pending_change import ChangeKind
from deploykit.project import Project
from deploykit.service import GitSource, Service, ServiceConfig
from deploykit_sqlite import Store
from deploykit_sqlite.deployment import MAX_LOG_BYTES
from tests.sqlite.support import ManualClock, RecordingBus, deploy_services, image_service, stage

S = DeploymentStatus


@pytest.fixture
async def service(store: Store, project: Project) -> Service:
    [svc], _ = await deploy_services(store, project.id, image_service("api"))
    return svc


async def first_deployment(store: Store, service: Service) -> str:
    deployments, _ = await store.deployments.list_deployments(DeploymentFilter(service_id=service.id))
    return deployments[-1].id


async def make_healthy(store: Store, id: str) -> None:
    await store.deployments.mark_starting(id)
    await store.deployments.mark_healthy(id)


async def test_first_deployment_is_pending_with_the_image(store: Store, service: Service) -> None:
    deployment = await store.deployments.get_deployment(await first_deployment(store, service))
    assert deployment.status == S.PENDING
    assert deployment.image == "nginx:1.27"
    assert deployment.config == service.config
    assert deployment.project_id == service.project_id


async def test_create_deployment_cancels_older_in_flight_ones(
    store: Store, service: Service, bus: RecordingBus
) -> None:
    old = await first_deployment(store, service)
    bus.clear()
    new = await store.deployments.create_deployment(DeploymentCreate(service_id=service.id, config=service.config))
    assert (await store.deployments.get_deployment(old)).status == S.CANCELLED
    assert (await store.deployments.get_deployment(old)).finished_at is not None
    assert bus.types() == [EventType.DEPLOYMENT_CANCELLED, EventType.DEPLOYMENT_CREATED]
    assert bus.events[0].payload["deployment_id"] == old
    assert bus.events[1].payload == {
        "deployment_id": new.id,
        "status": "pending",
        "rollback_of": None,
        "commit_sha": None,
    }


async def test_create_deployment_for_unknown_service(store: Store, service: Service) -> None:
    with pytest.raises(Error) as info:
        await store.deployments.create_deployment(DeploymentCreate(service_id="nope", config=service.config))
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")


async def test_lifecycle_to_healthy_supersedes_and_points_the_service(
    store: Store, service: Service, bus: RecordingBus, clock: ManualClock
) -> None:
    first = await first_deployment(store, service)
    await make_healthy(store, first)
    assert (await store.services.get_service(service.id)).active_deployment_id == first
    second = await store.deployments.create_deployment(DeploymentCreate(service_id=service.id, config=service.config))
    clock.advance(timedelta(seconds=5))
    bus.clear()
    started = await store.deployments.mark_starting(second.id, image="nginx@sha256:" + "a" * 64)
    assert started.image == "nginx@sha256:" + "a" * 64
    assert started.started_at == clock.now()
    healthy = await store.deployments.mark_healthy(second.id)
    assert (healthy.status, healthy.healthy_at, healthy.was_healthy) == (S.HEALTHY, clock.now(), True)
    assert (await store.deployments.get_deployment(first)).status == S.SUPERSEDED
    assert (await store.services.get_service(service.id)).active_deployment_id == second.id
    assert bus.types() == [EventType.DEPLOYMENT_STARTING, EventType.DEPLOYMENT_HEALTHY]


@pytest.mark.parametrize(
    ("path", "target", "message"),
    [
        ([], "healthy", "A deployment cannot go from pending to healthy."),
        (["starting", "healthy"], "failed", "A deployment cannot go from healthy to failed."),
        (["cancelled"], "starting", "A deployment cannot go from cancelled to starting."),
        (["starting"], "building", "A deployment cannot go from starting to building."),
        (["failed"], "cancelled", "A deployment cannot go from failed to cancelled."),
    ],
)
async def test_illegal_transitions_are_invalid(
    store: Store, service: Service, path: list[str], target: str, message: str
) -> None:
    id = await first_deployment(store, service)
    for step in [*path, target]:
        call: Callable[[], Awaitable[object]] = {
            "building": lambda: store.deployments.mark_building(id),
            "starting": lambda: store.deployments.mark_starting(id),
            "healthy": lambda: store.deployments.mark_healthy(id),
            "failed": lambda: store.deployments.mark_failed(id, DeploymentFailure(reason="boom")),
            "cancelled": lambda: store.deployments.mark_cancelled(id),
        }[step]
        if step == target:
            with pytest.raises(Error) as info:
                await call()
            assert (info.value.code, info.value.message) == ("invalid", message)
        else:
            await call()


async def test_mark_failed_keeps_reason_exit_code_and_the_last_10kb(
    store: Store, service: Service, bus: RecordingBus
) -> None:
    id = await first_deployment(store, service)
    await store.deployments.mark_starting(id)
    bus.clear()
    log = "".join(f"line {i}\n" for i in range(5000))
    failed = await store.deployments.mark_failed(id, DeploymentFailure(reason="exited", exit_code=3, log_tail=log))
    assert (failed.status, failed.failure_reason, failed.exit_code) == (S.FAILED, "exited", 3)
    assert failed.log_tail is not None
    assert len(failed.log_tail.encode()) <= LOG_TAIL_BYTES
    assert failed.log_tail.endswith("line 4999\n")
    assert failed.log_tail.startswith("line ")
    assert bus.of(EventType.DEPLOYMENT_FAILED)[0].payload["failure_reason"] == "exited"


async def test_git_deployment_goes_through_building(store: Store, project: Project) -> None:
    [svc], _ = await deploy_services(
        store, project.id, {"name": "app", "source": {"type": "git", "repo_url": "https://example.com/a.git"}}
    )
    assert isinstance(svc.config.source, GitSource)
    id = await first_deployment(store, svc)
    assert (await store.deployments.get_deployment(id)).image is None
    assert (await store.deployments.mark_building(id)).status == S.BUILDING
    started = await store.deployments.mark_starting(id, image="deploykit/x:1", commit_sha="abc", commit_message="m")
    assert (started.image, started.commit_sha, started.commit_message) == ("deploykit/x:1", "abc", "m")


async def test_rollback_copies_a_once_healthy_snapshot(store: Store, project: Project, service: Service) -> None:
    first = await first_deployment(store, service)
    await make_healthy(store, first)
    await stage(
        store,
        project.id,
        ChangeKind.SERVICE_UPDATE,
        {"source": {"type": "image", "image": "nginx:1.28"}},
        target_id=service.id,
    )
    result = await store.pending_changes.apply_pending_changes(project.id, None)
    [second] = result.created_deployments
    await make_healthy(store, second)
    back = await store.deployments.rollback(service.id, first, "user-1")
    assert (back.status, back.rollback_of, back.image, back.created_by) == (S.PENDING, first, "nginx:1.27", "user-1")
    original = await store.deployments.get_deployment(first)
    assert (back.config, back.env_vars) == (original.config, original.env_vars)


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("never-healthy", "invalid", "Only a deployment that was healthy once can be rolled back to."),
        ("unknown", "not_found", "Deployment not found."),
        ("other-service", "not_found", "Deployment not found."),
    ],
)
async def test_rollback_errors(
    store: Store, project: Project, service: Service, target: str, code: str, message: str
) -> None:
    [other], _ = await deploy_services(store, project.id, image_service("other"))
    ids = {
        "never-healthy": await first_deployment(store, service),
        "unknown": "nope",
        "other-service": await first_deployment(store, other),
    }
    await make_healthy(store, ids["other-service"])
    with pytest.raises(Error) as info:
        await store.deployments.rollback(service.id, ids[target], None)
    assert (info.value.code, info.value.message) == (code, message)


async def test_redeploy_uses_current_config_and_fresh_env(store: Store, project: Project, service: Service) -> None:
    await stage(store, project.id, ChangeKind.ENV_VAR_CREATE, {"scope": "project", "key": "A", "value": "1"})
    await store.pending_changes.apply_pending_changes(project.id, None)
    again = await store.deployments.redeploy(service.id, "user-1")
    assert (again.env_vars, again.config, again.created_by) == ({"A": "1"}, service.config, "user-1")


async def test_redeploy_can_pin_a_commit(store: Store, project: Project, service: Service) -> None:
    pinned = await store.deployments.redeploy(service.id, None, commit_sha="abc123", commit_message="Fix")
    assert (pinned.commit_sha, pinned.commit_message, pinned.status) == ("abc123", "Fix", S.PENDING)


async def test_redeploy_of_a_never_deployed_service_is_a_conflict(store: Store, project: Project) -> None:
    [svc], _ = await deploy_services(store, project.id, image_service("api"))
    async with store.db.tx() as tx:
        await tx.execute("DELETE FROM deployments WHERE service_id = ?", (svc.id,))
    with pytest.raises(Error) as info:
        await store.deployments.redeploy(svc.id, None)
    assert (info.value.code, info.value.message) == (
        "conflict",
        "The service has never been deployed; deploy its pending changes first.",
    )
    with pytest.raises(Error) as info:
        await store.deployments.redeploy("nope", None)
    assert info.value.code == "not_found"


async def test_list_deployments_newest_first_with_filters(store: Store, service: Service) -> None:
    config = ServiceConfig.from_dict(image_service("x"))
    made = [
        await store.deployments.create_deployment(DeploymentCreate(service_id=service.id, config=config))
        for _ in range(3)
    ]
    listed, total = await store.deployments.list_deployments(DeploymentFilter(service_id=service.id, limit=2))
    assert total == 4
    assert [d.id for d in listed] == [made[2].id, made[1].id]
    pending, total = await store.deployments.list_deployments(
        DeploymentFilter(service_id=service.id, statuses=frozenset({S.PENDING}))
    )
    assert (total, [d.id for d in pending]) == (1, [made[2].id])


async def test_logs_attempts(store: Store, service: Service) -> None:
    id = await first_deployment(store, service)
    await store.deployments.append_log(id, "step 1\n")
    await store.deployments.append_log(id, "step 2\n")
    assert await store.deployments.get_log(id) == "step 1\nstep 2\n"
    assert (await store.deployments.record_attempt(id)).attempt_count == 1
    for call in (
        store.deployments.get_log("nope"),
        store.deployments.read_log("nope"),
        store.deployments.append_log("nope", "x"),
        store.deployments.record_attempt("nope"),
        store.deployments.mark_building("nope"),
    ):
        with pytest.raises(Error) as info:
            await call
        assert (info.value.code, info.value.message) == ("not_found", "Deployment not found.")


async def test_each_append_is_published_once_stored_with_its_position_in_the_log(
    store: Store, service: Service, bus: RecordingBus
) -> None:
    id = await first_deployment(store, service)
    bus.clear()
    await store.deployments.append_log(id, "$ git clone\n")
    await store.deployments.append_log(id, "")  # nothing appended, nothing published
    await store.deployments.append_log(id, "step 1\nstep 2\n")
    assert await store.deployments.read_log(id) == DeploymentLog(text="$ git clone\nstep 1\nstep 2\n", end=26)
    assert [(e.project_id, e.service_id, e.payload) for e in bus.of(EventType.BUILD_LOG)] == [
        (service.project_id, service.id, {"deployment_id": id, "line": "$ git clone", "start": 0, "end": 12}),
        (service.project_id, service.id, {"deployment_id": id, "line": "step 1\nstep 2", "start": 12, "end": 26}),
    ]


async def test_a_clipped_log_keeps_counting_its_end(store: Store, service: Service, bus: RecordingBus) -> None:
    id = await first_deployment(store, service)
    line = "x" * 65535 + "\n"
    for _ in range(MAX_LOG_BYTES // len(line)):
        await store.deployments.append_log(id, line)
    await store.deployments.append_log(id, "last\n")
    log = await store.deployments.read_log(id)
    assert log.end == MAX_LOG_BYTES + 5
    assert log.text.endswith(line + "last\n")
    assert len(log.text.encode()) <= MAX_LOG_BYTES
    assert log.text == await store.deployments.get_log(id)
    last = {"deployment_id": id, "line": "last", "start": MAX_LOG_BYTES, "end": log.end}
    assert bus.of(EventType.BUILD_LOG)[-1].payload == last
