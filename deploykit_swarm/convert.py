"""Translation between the domain's container vocabulary and the Swarm API's JSON.

One DeployKit replica (a ``ContainerSpec``) is one Swarm service of one task: Swarm restarts it,
reschedules it when its node dies and places it; DeployKit's reconciler keeps the rollout
(start-first or stop-first, readiness gate, rollback), exactly as on one engine. The "container"
id the reconciler sees is the Swarm service's id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from deploykit.runtime import LABEL_MANAGED_BY, MANAGED_BY, ContainerSpec, ContainerState, RuntimeEvent

LABEL_RUNTIME = "deploykit.runtime"
"""On task containers instead of ``managed-by`` (so that the plain Docker runtime, which lists
containers by ``managed-by``, never takes a Swarm task for one of its own)."""
LABEL_NODE = "deploykit.node"
"""On a service pinned to one node (it mounts node-local volumes): that node's id."""
SWARM_SERVICE_ID = "com.docker.swarm.service.id"
SWARM_TASK_ID = "com.docker.swarm.task.id"
EDGE_SUFFIX = "_edge"
"""``dk-{slug}_edge``: the project's swarm-scoped bridge network of earlier versions (tasks reached
from the host there; now each replica's port is published on its node), removed with the project."""

RESTART_CONDITIONS = {"no": "none", "on-failure": "on-failure", "always": "any", "unless-stopped": "any"}
RESTART_DELAY_NS = 1_000_000_000
PENDING = frozenset({"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"})


def to_reap(task: dict[str, Any]) -> bool:
    """A task that still runs (or is starting) or that the task reaper will delete (a scale-down
    marks it ``remove``); a stopped task of the slot's history is neither."""
    state = (task.get("Status") or {}).get("State")
    return task.get("DesiredState") == "remove" or state in PENDING or state == "running"


FAILED = frozenset({"failed", "rejected", "complete", "orphaned"})
"""Task ends that were not asked for (``shutdown`` is: a stop, a scale-down, a forced update)."""
LIVE_DESIRED = frozenset({"running", "ready", "accepted"})
CONTAINER_ACTIONS = frozenset({"start", "die", "destroy", "oom", "stop", "kill", "restart"})


def edge_network(overlay: str) -> str:
    return f"{overlay}{EDGE_SUFFIX}"


def task_labels(labels: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in labels.items() if k != LABEL_MANAGED_BY}
    out[LABEL_RUNTIME] = "swarm"
    return out


def service_body(spec: ContainerSpec, *, node_id: str | None, place_on: str | None = None) -> dict[str, Any]:
    """The body of ``POST /services/create`` for ``spec``; ``node_id`` pins it (volumes are
    node-local: a service that mounts one runs where the volume is). ``place_on`` puts its first
    task on that node (a constraint the runtime drops once the task is placed, see
    ``SwarmRuntime.run_container``). The service's port is published in host mode on a port the
    node picks (``Status.PortStatus`` of the task says which)."""
    container: dict[str, Any] = {
        "Image": spec.image,
        "Labels": task_labels(spec.labels),
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "StopGracePeriod": int(max(0.0, spec.stop_grace_s) * 1_000_000_000),
        "Mounts": [{"Type": "volume", "Source": v.volume, "Target": v.mount_path} for v in spec.volumes],
        "Init": False,
        "TTY": False,
    }
    if spec.command is not None:
        container["Args"] = list(spec.command)
    limits: dict[str, int] = {}
    if spec.cpus is not None:
        limits["NanoCPUs"] = int(spec.cpus * 1_000_000_000)
    if spec.memory_mb is not None:
        limits["MemoryBytes"] = spec.memory_mb * 1024 * 1024
    labels = dict(spec.labels)
    template: dict[str, Any] = {
        "ContainerSpec": container,
        "Resources": {"Limits": limits},
        "RestartPolicy": {
            "Condition": RESTART_CONDITIONS.get(spec.restart_policy, "any"),
            "Delay": RESTART_DELAY_NS,
            "MaxAttempts": 0,
        },
        "Networks": [{"Target": spec.network, "Aliases": list(spec.aliases)}],
        "ForceUpdate": 0,
    }
    if spec.volumes and node_id:
        template["Placement"] = {"Constraints": [f"node.id=={node_id}"]}
        labels[LABEL_NODE] = node_id
    elif place_on:
        template["Placement"] = {"Constraints": [placed_on(place_on)]}
    # Host mode, no published port: the node picks a free one for the task (no routing mesh, which
    # needs IPVS). Caddy and the probes reach the replica at <its node's address>:<that port>.
    endpoint: dict[str, Any] = {"Mode": "dnsrr"}
    if spec.port is not None:
        endpoint["Ports"] = [{"Protocol": "tcp", "TargetPort": spec.port, "PublishMode": "host"}]
    # Two writers on one data directory corrupt it: a service with volumes is updated stop-first.
    order = "stop-first" if spec.volumes else "start-first"
    update = {"Parallelism": 1, "Order": order, "FailureAction": "pause", "Monitor": 0}
    return {
        "Name": spec.name,
        "Labels": labels,
        "TaskTemplate": template,
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": update,
        "RollbackConfig": update,
        # DNS round robin, no virtual IP: a VIP needs IPVS (the routing mesh), absent here.
        "EndpointSpec": endpoint,
    }


def placed_on(node_id: str) -> str:
    return f"node.id=={node_id}"


def placed_node(service: dict[str, Any]) -> str | None:
    """The node a ``placed_on`` constraint (not yet dropped) puts the service's task on."""
    placement = (((service.get("Spec") or {}).get("TaskTemplate") or {}).get("Placement")) or {}
    for c in placement.get("Constraints") or []:
        if (
            isinstance(c, str)
            and c.startswith("node.id==")
            and not (service.get("Spec") or {}).get("Labels", {}).get(LABEL_NODE)
        ):
            return c.removeprefix("node.id==")
    return None


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 with nanoseconds; "0001-01-01T00:00:00Z" means never."""
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    text = value.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{''.join(ch for ch in frac if ch.isdigit())[:6]}"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def replicas_of(service: dict[str, Any]) -> int:
    mode = ((service.get("Spec") or {}).get("Mode") or {}).get("Replicated") or {}
    return int(mode.get("Replicas") or 0)


def _created(task: dict[str, Any]) -> str:
    return str(task.get("CreatedAt") or "")


def _exit_code(task: dict[str, Any] | None) -> int | None:
    if task is None:
        return None
    status = (task.get("Status") or {}).get("ContainerStatus") or {}
    code = status.get("ExitCode")
    return int(code) if isinstance(code, int) else None


def _task_state(task: dict[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State") or "")


def failed_task_ids(tasks: Iterable[dict[str, Any]]) -> set[str]:
    return {str(t["ID"]) for t in tasks if _task_state(t) in FAILED}


def node_addresses(nodes: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Node id -> the address the node advertises (``GET /nodes``: ``Status.Addr``; a manager
    may report 0.0.0.0 there, its ``ManagerStatus.Addr`` then says)."""
    out: dict[str, str] = {}
    for n in nodes:
        addr = str((n.get("Status") or {}).get("Addr") or "")
        if addr in {"", "0.0.0.0"}:
            manager = str((n.get("ManagerStatus") or {}).get("Addr") or "")
            addr = manager.rsplit(":", 1)[0].strip("[]") if manager else ""
        if addr:
            out[str(n["ID"])] = addr
    return out


def published_ports(task: dict[str, Any]) -> dict[int, int]:
    """Container port -> the node's port published for it (the task's ``Status.PortStatus``).

    The engine lists the IPv4 binding first and then the IPv6 one, and 20.10 may pick a different
    random port for each (``0.0.0.0:32807->8080, [::]:32805->8080``); nodes advertise IPv4
    addresses here, so the first is the one."""
    out: dict[int, int] = {}
    for p in ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []:
        if p.get("PublishMode") == "host" and p.get("TargetPort") and p.get("PublishedPort"):
            out.setdefault(int(p["TargetPort"]), int(p["PublishedPort"]))
    return out


def published_targets(service: dict[str, Any]) -> set[int]:
    """The container ports the service publishes."""
    ports = (((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports")) or []
    return {int(p["TargetPort"]) for p in ports if p.get("TargetPort")}


def state_of(
    service: dict[str, Any], tasks: list[dict[str, Any]], nodes: dict[str, str], restarts: int
) -> ContainerState:
    """One Swarm service (of one task) as the container the reconciler expects. ``nodes``: node id
    -> address (``node_addresses``); a running task is reached at its node's address, on the ports
    published for it (none yet: no address).

    ``running`` while its task runs; ``restarting`` while Swarm schedules, starts or replaces the
    task (the reconciler keeps such a replica and looks again); ``exited`` when scaled to 0 (a
    stop) or when a task with restart policy ``no`` ended. ``restarts`` counts failed tasks."""
    spec = service.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    condition = str((template.get("RestartPolicy") or {}).get("Condition") or "any")
    image = str((template.get("ContainerSpec") or {}).get("Image") or "").split("@", 1)[0]
    ordered = sorted(tasks, key=_created)
    live = [t for t in ordered if t.get("DesiredState") in LIVE_DESIRED]
    current = live[-1] if live else None
    failures = [t for t in ordered if _task_state(t) in FAILED]
    last_failure = failures[-1] if failures else None
    ip: str | None = None
    ports: dict[int, int] = {}
    started_at = finished_at = None
    if replicas_of(service) == 0:
        state = "exited"
        exit_code = _exit_code(ordered[-1] if ordered else None)
    elif current is None:
        state = "exited" if failures and condition == "none" else "restarting"
        exit_code = _exit_code(last_failure)
    else:
        task_state = _task_state(current)
        if task_state == "running":
            state = "running"
            ports = published_ports(current)
            if published_targets(service) <= ports.keys():
                ip = nodes.get(str(current.get("NodeID") or ""))
            started_at = parse_time((current.get("Status") or {}).get("Timestamp"))
        elif task_state in FAILED and condition == "none":
            state = "exited"
        else:
            state = "restarting"
        exit_code = _exit_code(current) if task_state in FAILED else _exit_code(last_failure)
    if last_failure is not None:
        finished_at = parse_time((last_failure.get("Status") or {}).get("Timestamp"))
    return ContainerState(
        id=str(service["ID"]),
        name=str(spec.get("Name") or ""),
        labels=dict(spec.get("Labels") or {}),
        state=state,
        image=image,
        exit_code=exit_code,
        restart_count=restarts,
        ip_address=ip,
        started_at=started_at,
        finished_at=finished_at,
        ports=ports,
    )


_EXIT_RE = re.compile(r"^-?\d+$")


def event_from_json(data: dict[str, Any], labels_of: dict[str, dict[str, str]]) -> RuntimeEvent | None:
    """A Swarm task container's event as an event of its service ("container" = service), or a
    managed service's removal (``destroy``); None for anything else. ``labels_of``: the labels
    of the services last listed (service events carry none)."""
    actor = data.get("Actor") or {}
    attrs = dict(actor.get("Attributes") or {})
    kind = data.get("Type")
    action = str(data.get("Action") or "").split(":", 1)[0].strip()
    if kind == "service":
        sid = str(actor.get("ID") or "")
        if action != "remove" or sid not in labels_of:
            return None
        return RuntimeEvent(action="destroy", container_id=sid, labels=dict(labels_of[sid]))
    if kind != "container" or attrs.get(LABEL_RUNTIME) != "swarm" or action not in CONTAINER_ACTIONS:
        return None
    service_id = str(attrs.get(SWARM_SERVICE_ID) or "")
    if not service_id:
        return None
    exit_code = str(attrs.get("exitCode") or "")
    labels = {k: v for k, v in attrs.items() if k.startswith("deploykit.") and k != LABEL_RUNTIME}
    labels[LABEL_MANAGED_BY] = MANAGED_BY
    return RuntimeEvent(
        action=action,
        container_id=service_id,
        labels=labels,
        exit_code=int(exit_code) if _EXIT_RE.match(exit_code) else None,
    )
