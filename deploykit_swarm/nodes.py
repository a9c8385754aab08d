"""``SwarmNodes``: the domain's NodeService on a Docker Swarm, through the manager's API.

A listing is three calls whatever the size of the swarm: the nodes, the running tasks (counted
per node), and the engine's info (which node answers, to mark it). Draining or activating a node
is its inspect (for the version the update must name) and the update.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from deploykit.errors import CONFLICT, UNAVAILABLE, Error
from deploykit.node import JoinCommand, Node, NodeAvailability, NodeRole, NodeService, NodeState
from deploykit_swarm.errors import translate

_NOT_A_MANAGER = (
    "This Docker engine is not a swarm manager: run 'docker swarm init' on it (or point --docker-host at a manager)."
)
_ROLE_ORDER = {NodeRole.MANAGER: 0, NodeRole.WORKER: 1, NodeRole.STANDALONE: 2}
_FAILURES = (DockerError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


def _translate(exc: BaseException, what: str) -> Error:
    # Swarm answers 503 on a worker or an engine outside any swarm: a state to fix, not an outage.
    if isinstance(exc, DockerError) and exc.status == 503 and "swarm" in str(exc.message).lower():
        return Error(CONFLICT, _NOT_A_MANAGER)
    return translate(exc, what)


def _enum(kind: type[Any], value: object, default: Any) -> Any:
    try:
        return kind(str(value))
    except ValueError:
        return default


def node_from_api(n: dict[str, Any], running_tasks: int) -> Node:
    """A domain Node from one entry of ``GET /nodes``."""
    spec = n.get("Spec") or {}
    desc = n.get("Description") or {}
    res = desc.get("Resources") or {}
    status = n.get("Status") or {}
    manager = n.get("ManagerStatus") or {}
    address = str(status.get("Addr") or "")
    if address in ("", "0.0.0.0") and manager.get("Addr"):
        # A manager that listens on every address reports 0.0.0.0; its control address says more.
        address = str(manager["Addr"]).rsplit(":", 1)[0]
    return Node(
        id=str(n["ID"]),
        hostname=str(desc.get("Hostname") or ""),
        role=_enum(NodeRole, spec.get("Role"), NodeRole.WORKER),
        availability=_enum(NodeAvailability, spec.get("Availability"), NodeAvailability.ACTIVE),
        state=_enum(NodeState, status.get("State"), NodeState.UNKNOWN),
        engine_version=str((desc.get("Engine") or {}).get("EngineVersion") or ""),
        cpus=int(res.get("NanoCPUs") or 0) / 1e9,
        memory_bytes=int(res.get("MemoryBytes") or 0),
        running_tasks=running_tasks,
        address=address,
        leader=bool(manager.get("Leader")),
        message=str(status.get("Message") or ""),
    )


class SwarmNodes(NodeService):
    """NodeService on the swarm the engine at ``url`` (DOCKER_HOST or the local socket by
    default) manages. Constructing it does no I/O; ``open()`` builds the client."""

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._docker: aiodocker.Docker | None = None

    async def open(self) -> None:
        if self._docker is None:
            try:
                self._docker = aiodocker.Docker(url=self._url)
            except ValueError as exc:
                raise Error(UNAVAILABLE, "No Docker engine address is configured.") from exc

    async def close(self) -> None:
        docker, self._docker = self._docker, None
        if docker is not None:
            await docker.close()

    @property
    def _client(self) -> aiodocker.Docker:
        if self._docker is None:
            raise Error(UNAVAILABLE, "The swarm client is not open.")
        return self._docker

    async def _get(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return await self._client._query_json(path, "GET", params=params)
        except _FAILURES as exc:
            raise _translate(exc, what) from exc

    async def _running_tasks(self) -> Counter[str]:
        filters = json.dumps({"desired-state": ["running"]})
        tasks = await self._get("tasks", "the swarm's tasks", {"filters": filters})
        return Counter(
            str(t.get("NodeID")) for t in tasks if (t.get("Status") or {}).get("State") == "running" and t.get("NodeID")
        )

    async def list_nodes(self) -> list[Node]:
        nodes = await self._get("nodes", "the swarm's nodes")
        running = await self._running_tasks()
        out = [node_from_api(n, running[str(n["ID"])]) for n in nodes]
        return sorted(out, key=lambda n: (_ROLE_ORDER[n.role], n.hostname, n.id))

    async def set_availability(self, id: str, availability: NodeAvailability) -> Node:
        what = f"node {id}"
        current = await self._get(f"nodes/{id}", what)
        spec = dict(current.get("Spec") or {})
        spec["Availability"] = availability.value
        try:
            await self._client._query_json(
                f"nodes/{current['ID']}/update",
                "POST",
                params={"version": int(current["Version"]["Index"])},
                data=spec,
            )
        except _FAILURES as exc:
            raise _translate(exc, what) from exc
        updated = await self._get(f"nodes/{current['ID']}", what)
        running = await self._running_tasks()
        return node_from_api(updated, running[str(updated["ID"])])

    async def join_command(self) -> JoinCommand:
        info = await self._get("info", "the engine")
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise Error(CONFLICT, _NOT_A_MANAGER)
        cluster = await self._get("swarm", "the swarm")
        token = str((cluster.get("JoinTokens") or {}).get("Worker") or "")
        managers = swarm.get("RemoteManagers") or []
        own = [m for m in managers if m.get("NodeID") == swarm.get("NodeID")]
        address = str(((own or managers or [{}])[0]).get("Addr") or "")
        if not token or not address:
            raise Error(UNAVAILABLE, "The swarm did not give a worker join token and a manager address.")
        return JoinCommand(token=token, manager_address=address)
