"""Translation between the domain's container vocabulary and the Docker Engine API's JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from deploykit.runtime import LABEL_MANAGED_BY, MANAGED_BY, ContainerSpec, ContainerState, ContainerStats, RuntimeEvent

_STOPPED = frozenset({"exited", "dead", "restarting"})
_EXITED_RE = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")


def create_body(spec: ContainerSpec) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for ``spec``."""
    host: dict[str, Any] = {
        "NetworkMode": spec.network,
        "RestartPolicy": {"Name": spec.restart_policy, "MaximumRetryCount": 0},
        "Mounts": [{"Type": "volume", "Source": v.volume, "Target": v.mount_path} for v in spec.volumes],
        "Init": False,
    }
    if spec.cpus is not None:
        host["NanoCpus"] = int(spec.cpus * 1_000_000_000)
    if spec.memory_mb is not None:
        host["Memory"] = spec.memory_mb * 1024 * 1024
    body: dict[str, Any] = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "StopTimeout": max(0, round(spec.stop_grace_s)),
        "Tty": False,
        "HostConfig": host,
        "NetworkingConfig": {"EndpointsConfig": {spec.network: {"Aliases": list(spec.aliases)}}},
    }
    if spec.command is not None:
        body["Cmd"] = list(spec.command)
    if spec.port is not None:
        body["ExposedPorts"] = {f"{spec.port}/tcp": {}}
    return body


def parse_time(value: Any) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds; "0001-01-01T00:00:00Z" means never."""
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    text = value.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())
        text = f"{head}.{digits[:6]}"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def _first_ip(networks: Any) -> str | None:
    if not isinstance(networks, dict):
        return None
    # A DeployKit container joins exactly one network: its project's.
    for name in sorted(networks, key=lambda n: not n.startswith("dk-")):
        ip = (networks[name] or {}).get("IPAddress")
        if ip:
            return str(ip)
    return None


def state_from_list(item: dict[str, Any]) -> ContainerState:
    """One entry of ``GET /containers/json``: no restart count, exit code parsed from Status."""
    names = item.get("Names") or [""]
    status_text = str(item.get("Status") or "")
    match = _EXITED_RE.match(status_text)
    return ContainerState(
        id=str(item["Id"]),
        name=str(names[0]).lstrip("/"),
        labels=dict(item.get("Labels") or {}),
        state=str(item.get("State") or ""),
        image=str(item.get("Image") or ""),
        exit_code=int(match.group(1)) if match else None,
        ip_address=_first_ip((item.get("NetworkSettings") or {}).get("Networks")),
    )


def state_from_inspect(data: dict[str, Any]) -> ContainerState:
    """``GET /containers/{id}/json``: the full truth about one container."""
    state = data.get("State") or {}
    config = data.get("Config") or {}
    status = str(state.get("Status") or "")
    exit_code = state.get("ExitCode")
    # After a restart the previous run's exit code is still the one worth reporting.
    restarts = int(data.get("RestartCount") or 0)
    return ContainerState(
        id=str(data["Id"]),
        name=str(data.get("Name") or "").lstrip("/"),
        labels=dict(config.get("Labels") or {}),
        state=status,
        image=str(config.get("Image") or ""),
        exit_code=int(exit_code) if exit_code is not None and (status in _STOPPED or restarts) else None,
        restart_count=restarts,
        ip_address=_first_ip((data.get("NetworkSettings") or {}).get("Networks")),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        oom_killed=bool(state.get("OOMKilled")),
    )


NETWORK_ACTIONS = frozenset({"disconnect", "destroy"})


def event_from_json(data: dict[str, Any]) -> RuntimeEvent | None:
    """A managed container's event, a DeployKit network losing a container or going away
    (``network_disconnect``/``network_destroy``: network events carry no labels, so they are
    recognised by the ``dk-`` name), or None for anything else. ``health_status: healthy``
    keeps its first word as the action."""
    actor = data.get("Actor") or {}
    attrs = dict(actor.get("Attributes") or {})
    if data.get("Type") == "network":
        action = str(data.get("Action") or "")
        name = str(attrs.get("name") or "")
        if action not in NETWORK_ACTIONS or not name.startswith("dk-"):
            return None
        return RuntimeEvent(
            action=f"network_{action}", container_id=str(attrs.get("container") or ""), labels={"network": name}
        )
    if data.get("Type") != "container" or attrs.get(LABEL_MANAGED_BY) != MANAGED_BY:
        return None
    action = str(data.get("Action") or data.get("status") or "").split(":", 1)[0].strip()
    exit_code = attrs.pop("exitCode", None)
    for key in ("name", "image", "signal", "execID", "health_status"):
        attrs.pop(key, None)
    return RuntimeEvent(
        action=action,
        container_id=str(actor.get("ID") or data.get("id") or ""),
        labels=attrs,
        exit_code=int(exit_code) if exit_code is not None and str(exit_code).lstrip("-").isdigit() else None,
    )


def stats_from_json(container_id: str, data: dict[str, Any]) -> ContainerStats:
    cpu = data.get("cpu_stats") or {}
    pre = data.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_percent = (cpu_delta / system_delta) * online * 100.0 if cpu_delta > 0 and system_delta > 0 else 0.0
    memory = data.get("memory_stats") or {}
    # Like `docker stats`: page cache is not the container's own memory.
    inactive = (memory.get("stats") or {}).get(
        "inactive_file", (memory.get("stats") or {}).get("total_inactive_file", 0)
    )
    rx = tx = 0
    for net in (data.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    read = write = 0
    for entry in (data.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op") or "").lower()
        if op == "read":
            read += int(entry.get("value") or 0)
        elif op == "write":
            write += int(entry.get("value") or 0)
    return ContainerStats(
        container_id=container_id,
        cpu_percent=round(cpu_percent, 2),
        memory_bytes=max(0, int(memory.get("usage") or 0) - int(inactive or 0)),
        memory_limit_bytes=int(memory.get("limit") or 0),
        network_rx_bytes=rx,
        network_tx_bytes=tx,
        at=parse_time(data.get("read")),
        block_read_bytes=read,
        block_write_bytes=write,
    )


def split_image_ref(ref: str) -> tuple[str, str]:
    """``(fromImage, tag)`` for ``POST /images/create``; a digest travels as the tag."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def is_mutable_tag(ref: str) -> bool:
    """``latest`` (spelled or implied) moves; a digest never does."""
    if "@" in ref:
        return False
    return split_image_ref(ref)[1] == "latest"
