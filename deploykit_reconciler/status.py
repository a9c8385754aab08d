"""Pure decisions over observed state: is a replica up, what is a service's status, and does a
service need any work at all (the resync's steady-state test, from one container list)."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deploykit.container import ContainerRecord
from deploykit.deployment import Deployment
from deploykit.runtime import ContainerState
from deploykit.service import Service, ServiceStatus

LIVE_STATES = frozenset({"running", "restarting", "paused"})
"""A paused replica is alive: a backup freezes it for the moment its volume is copied, and it must
neither be replaced nor taken out of the route meanwhile (requests wait, then go on)."""
SERVING_STATES = frozenset({"running", "paused"})


def replica_up(c: ContainerState, now: datetime, crash_window_s: float) -> bool:
    """Running (or paused), attached to a network, and not freshly restarted by its restart policy."""
    if c.state not in SERVING_STATES or not c.ip_address:
        return False
    if c.restart_count > 0 and c.started_at is not None:
        return now - c.started_at >= timedelta(seconds=crash_window_s)
    return True


def replica_crashing(c: ContainerState, now: datetime, crash_window_s: float) -> bool:
    if c.state == "restarting":
        return True
    return c.state == "running" and c.restart_count > 0 and not replica_up(c, now, crash_window_s)


def replica_slots(deployment: Deployment, containers: Sequence[ContainerState]) -> dict[int, list[ContainerState]]:
    """The deployment's containers by replica index (running ones first)."""
    slots: dict[int, list[ContainerState]] = {}
    for c in containers:
        if c.deployment_id == deployment.id:
            slots.setdefault(c.replica_index, []).append(c)
    for items in slots.values():
        items.sort(key=lambda c: c.state != "running")
    return slots


def serving_status(up: int, wanted: int) -> ServiceStatus:
    if up >= wanted:
        return ServiceStatus.RUNNING
    if up > 0:
        return ServiceStatus.DEGRADED
    return ServiceStatus.FAILED


@dataclass
class ServiceView:
    """What one resync knows about one service, all from bulk reads."""

    service: Service
    containers: list[ContainerState] = field(default_factory=list)
    in_flight: list[Deployment] = field(default_factory=list)
    active: Deployment | None = None
    records: list[ContainerRecord] = field(default_factory=list)
    route: list[str] | None = None
    """Upstreams last sent to the ingress (None: never, or no ingress)."""
    held_out: Set[str] = frozenset()
    """Containers the health monitor keeps out of the route."""


def steady(view: ServiceView, *, with_ingress: bool) -> bool:
    """True when nothing needs doing: checked on list data only, so no inspects.

    Anything doubtful (a restarting replica, a stale status or record) answers False and the
    service gets a full reconcile, which looks closer."""
    service = view.service
    if service.stopped:
        return service.status == ServiceStatus.STOPPED and not any(c.state in LIVE_STATES for c in view.containers)
    if view.in_flight:
        return False
    active = view.active
    if active is None:
        return not view.containers and service.status in {ServiceStatus.CREATED, ServiceStatus.FAILED}
    if service.status != ServiceStatus.RUNNING:
        return False
    wanted = active.config.replicas
    if len(view.containers) != wanted:
        return False
    seen: set[int] = set()
    for c in view.containers:
        if c.deployment_id != active.id or c.state != "running" or not c.ip_address:
            return False
        if c.replica_index in seen or not 0 <= c.replica_index < wanted:
            return False
        seen.add(c.replica_index)
    records = {r.id: r for r in view.records}
    if set(records) != {c.id for c in view.containers}:
        return False
    if any(records[c.id].state != c.state or records[c.id].ip_address != c.ip_address for c in view.containers):
        return False
    # Docker's list carries no restart count (0); Swarm's does, and a record behind it is stale.
    if any(records[c.id].restart_count < c.restart_count for c in view.containers):
        return False
    if with_ingress and active.config.port is not None:
        port = active.config.port
        upstreams = sorted(e for c in view.containers if c.id not in view.held_out and (e := c.endpoint(port)))
        if view.route != upstreams:
            return False
    return True
