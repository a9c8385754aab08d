"""Pure decisions: steady state from list data, replica liveness, serving status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from deploykit.container import ContainerRecord
from deploykit.deployment import DeploymentStatus
from deploykit.runtime import ContainerState
from deploykit.service import ImageSource, Service, ServiceConfig, ServiceStatus
from deploykit_reconciler.status import ServiceView, replica_up, serving_status, steady
from tests.reconciler.fakes import container, deployment

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def service(
    status: ServiceStatus = ServiceStatus.RUNNING, *, stopped: bool = False, active: str | None = "d1"
) -> Service:
    return Service(
        id="s1",
        project_id="p1",
        name="web",
        slug="web",
        config=ServiceConfig(source=ImageSource("img:1"), port=8080),
        status=status,
        active_deployment_id=active,
        stopped=stopped,
    )


def record(c: ContainerState) -> ContainerRecord:
    return ContainerRecord(
        id=c.id,
        name=c.name,
        project_id="p1",
        service_id="s1",
        deployment_id=c.deployment_id or "",
        replica_index=c.replica_index,
        state=c.state,
        ip_address=c.ip_address,
    )


ACTIVE = replace(deployment("d1", status=DeploymentStatus.HEALTHY), config=replace(deployment().config, replicas=2))
R0 = container("c0", replica=0)
R1 = container("c1", replica=1, ip="10.0.0.3")
GOOD = ServiceView(service=service(), containers=[R0, R1], active=ACTIVE, records=[record(R0), record(R1)])


@pytest.mark.parametrize(
    ("view", "with_ingress", "expected"),
    [
        (GOOD, False, True),
        (replace(GOOD, containers=[R0]), False, False),
        (replace(GOOD, containers=[R0, replace(R1, state="exited")]), False, False),
        (replace(GOOD, containers=[R0, replace(R1, ip_address=None)]), False, False),
        (replace(GOOD, containers=[R0, R1, container("c9", deployment_id="old")]), False, False),
        (
            replace(GOOD, containers=[R0, replace(R1, labels={**R1.labels, "deploykit.replica-index": "0"})]),
            False,
            False,
        ),
        (replace(GOOD, in_flight=[deployment("d2")]), False, False),
        (replace(GOOD, service=service(ServiceStatus.DEGRADED)), False, False),
        (replace(GOOD, records=[record(R0)]), False, False),
        (replace(GOOD, records=[record(R0), replace(record(R1), state="exited")]), False, False),
        (replace(GOOD, containers=[R0, replace(R1, restart_count=1)]), False, False),
        (replace(GOOD, records=[record(R0), replace(record(R1), restart_count=3)]), False, True),
        (GOOD, True, False),
        (replace(GOOD, route=["10.0.0.2:8080", "10.0.0.3:8080"]), True, True),
        (
            ServiceView(service=service(ServiceStatus.STOPPED, stopped=True), containers=[replace(R0, state="exited")]),
            False,
            True,
        ),
        (ServiceView(service=service(ServiceStatus.STOPPED, stopped=True), containers=[R0]), False, False),
        (ServiceView(service=service(ServiceStatus.RUNNING, stopped=True)), False, False),
        (ServiceView(service=service(ServiceStatus.CREATED, active=None)), False, True),
        (ServiceView(service=service(ServiceStatus.FAILED, active=None)), False, True),
        (ServiceView(service=service(ServiceStatus.FAILED, active=None), containers=[R0]), False, False),
        (ServiceView(service=service(ServiceStatus.DEPLOYING, active=None)), False, False),
    ],
    ids=[
        "all-replicas-running",
        "replica-missing",
        "replica-exited",
        "replica-off-network",
        "leftover-of-old-deployment",
        "duplicate-replica-index",
        "deployment-in-flight",
        "stale-status",
        "record-missing",
        "record-stale",
        "record-behind-a-listed-restart-count",
        "record-ahead-of-a-list-without-restart-counts",
        "ingress-never-told",
        "ingress-up-to-date",
        "stopped-and-down",
        "stopped-but-running",
        "stopped-status-not-recorded",
        "never-deployed",
        "failed-first-deployment",
        "failed-with-leftover",
        "deploying-status-without-deployment",
    ],
)
def test_steady_state_is_decided_from_list_data(view: ServiceView, with_ingress: bool, expected: bool) -> None:
    assert steady(view, with_ingress=with_ingress) is expected


@pytest.mark.parametrize(
    ("c", "up"),
    [
        (container(), True),
        (container(state="restarting"), False),
        (container(ip=None), False),
        (container(restarts=2, started_at=NOW - timedelta(seconds=1)), False),
        (container(restarts=2, started_at=NOW - timedelta(seconds=30)), True),
        (container(state="paused"), True),
    ],
    ids=["running", "restarting", "no-address", "freshly-restarted", "restarted-long-ago", "paused-by-a-backup"],
)
def test_a_replica_is_up_when_running_addressed_and_not_freshly_restarted(c: ContainerState, up: bool) -> None:
    assert replica_up(c, NOW, crash_window_s=10.0) is up


@pytest.mark.parametrize(
    ("up", "wanted", "status"),
    [(2, 2, ServiceStatus.RUNNING), (1, 2, ServiceStatus.DEGRADED), (0, 2, ServiceStatus.FAILED)],
)
def test_serving_status_follows_what_runs(up: int, wanted: int, status: ServiceStatus) -> None:
    assert serving_status(up, wanted) == status
