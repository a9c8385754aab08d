"""``SwarmRuntime``: the domain's Runtime and LogStreamer on a Docker Swarm, through aiodocker.

How the parts map:

- A DeployKit replica is one Swarm service (``Replicas: 1``) named like the container would be;
  Swarm restarts and places its task, the reconciler's rollout is unchanged (see ``convert``).
- A project's network ``dk-{slug}`` is an attachable overlay: services reach each other by name
  (DNS round robin, ``dnsrr``) from any node. No virtual IPs, no routing mesh: both need IPVS.
- Ingress: Caddy runs on the manager's host, and an overlay address is not routable from a host
  (the overlay's bridge lives in its own network namespace), on this node or any other. Each
  replica's service therefore publishes its port in *host* mode with no published port: the node
  its task runs on picks a free port and forwards it to the task (like ``docker run -p``; no
  routing mesh). The replica's address is ``<its node's address>:<that port>`` (the node's
  ``Status.Addr``, the task's ``Status.PortStatus``): ``ContainerState.ip_address`` and
  ``ports``, which the readiness gate, the health monitor and Caddy's upstreams all use. It is
  the same for a task on the manager and on any worker, and it follows a task that Swarm moves
  to another node (new node, new port).
- Placement: Swarm's scheduler places each one-task service on its own, so two replicas of a
  service would both go to the emptiest node. ``run_container`` puts a new replica on the active
  node running the fewest replicas of the same deployment (then the fewest tasks), with a
  ``node.id==`` constraint that it drops as soon as the task has been placed: Swarm does not
  restart a task for a change of constraints its node still meets, and without the constraint
  Swarm moves the task to another node when its node goes down.
- Volumes and images are node-local: they are the local engine's (``engine``, the Docker
  runtime), and a service that mounts a volume is pinned to this node (a placement constraint,
  and the label ``deploykit.node`` on the service).

A steady resync costs three list calls (services, tasks, nodes).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from deploykit.errors import CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE, Error
from deploykit.logs import LogLine
from deploykit.runtime import (
    LABEL_DEPLOYMENT_ID,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_ID,
    MANAGED_BY,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    NetworkInfo,
    Runtime,
    RuntimeEvent,
    VolumeInfo,
)
from deploykit_swarm import convert
from deploykit_swarm.errors import translate
from deploykit_swarm.logs import lines as log_lines

log = logging.getLogger(__name__)

MANAGED_FILTER = json.dumps({"label": [f"{LABEL_MANAGED_BY}={MANAGED_BY}"]})
TASK_CONTAINERS = json.dumps({"label": [f"{convert.LABEL_RUNTIME}=swarm"]})


@dataclass(frozen=True)
class SwarmSettings:
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 120.0
    start_timeout_s: float = 60.0
    """``run_container`` waits this long for the new task to run (or fail) before returning."""
    poll_s: float = 0.25
    place_timeout_s: float = 30.0
    """A new replica's ``node.id==`` constraint is dropped once its task is placed, or after this."""
    remove_timeout_s: float = 15.0
    """``remove_container`` waits this long past the stop grace for the task containers to go."""


class SwarmRuntime:
    """Runtime + LogStreamer on the swarm whose manager answers at ``url`` (DOCKER_HOST or the local
    socket). ``engine`` is the local engine's Runtime: volumes and images live there. No I/O in
    the constructor; ``open()`` builds the client, ``require_manager()`` checks the engine."""

    def __init__(self, engine: Runtime, url: str | None = None, *, settings: SwarmSettings | None = None) -> None:
        self._engine = engine
        self._url = url
        self._settings = settings or SwarmSettings()
        self._docker: aiodocker.Docker | None = None
        self._node_id: str | None = None
        self._failed: dict[str, set[str]] = {}
        """Service id -> ids of its failed tasks ever seen (Swarm prunes old tasks; counts only grow)."""
        self._labels: dict[str, dict[str, str]] = {}
        self._network_locks: dict[str, asyncio.Lock] = {}
        self._placing = asyncio.Lock()
        self.api_calls: Counter[str] = Counter()

    async def open(self) -> None:
        if self._docker is None:
            timeout = aiohttp.ClientTimeout(total=None, connect=self._settings.connect_timeout_s)
            try:
                self._docker = aiodocker.Docker(url=self._url, timeout=timeout)
            except ValueError as exc:
                raise Error(UNAVAILABLE, "No Docker engine address is configured.") from exc

    async def close(self) -> None:
        docker, self._docker = self._docker, None
        if docker is not None:
            await docker.close()

    async def __aenter__(self) -> SwarmRuntime:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def require_manager(self) -> str:
        """This node's id. Raises ``invalid`` when the engine is not a swarm manager (with the
        command that makes it one), ``unavailable`` when it does not answer."""
        info = await self._call("info", "GET", "info", "the engine")
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            state = swarm.get("LocalNodeState") or "inactive"
            role = "a worker" if swarm.get("LocalNodeState") == "active" else f"not in a swarm ({state})"
            raise Error(
                INVALID,
                f"--runtime swarm needs a swarm manager, and this Docker engine is {role}: run "
                "`docker swarm init` on it (or point --docker-host at a manager).",
            )
        self._node_id = str(swarm.get("NodeID") or "") or None
        return self._node_id or ""

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def _client(self) -> aiodocker.Docker:
        if self._docker is None:
            raise Error(UNAVAILABLE, "The Swarm runtime is not open.")
        return self._docker

    async def _call(
        self, op: str, method: str, path: str, what: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        self.api_calls[op] += 1
        timeout = aiohttp.ClientTimeout(
            total=self._settings.request_timeout_s, connect=self._settings.connect_timeout_s
        )
        try:
            return await self._client._query_json(path, method, params=params, data=body, timeout=timeout)
        except Error:
            raise
        except (DockerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate(exc, what) from exc

    @asynccontextmanager
    async def _stream(
        self, op: str, path: str, what: str, params: dict[str, Any]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        self.api_calls[op] += 1
        infinite = aiohttp.ClientTimeout(total=None, connect=self._settings.connect_timeout_s)
        try:
            async with self._client._query(path, "GET", params=params, timeout=infinite) as response:
                try:
                    yield response
                finally:
                    response.close()
        except Error:
            raise
        except (DockerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate(exc, what) from exc

    async def ping(self) -> bool:
        try:
            await self._call("version", "GET", "version", "the engine")
        except Error:
            return False
        return True

    # -- networks ---------------------------------------------------------------------------------

    async def _networks_named(self, name: str) -> list[dict[str, Any]]:
        params = {"filters": json.dumps({"name": [name]})}
        data = await self._call("network_list", "GET", "networks", f"network {name}", params=params)
        return [n for n in data if n.get("Name") == name]

    async def _ensure_one(self, name: str, driver: str, labels: dict[str, str]) -> None:
        async with self._network_locks.setdefault(name, asyncio.Lock()):
            found = await self._networks_named(name)
            if found:
                if found[0].get("Scope") != "swarm":
                    raise Error(CONFLICT, f"Network {name} exists on this engine but is not a swarm network.")
                return
            body = {"Name": name, "Driver": driver, "Scope": "swarm", "Attachable": True, "Labels": labels}
            if driver == "bridge":
                body.pop("Attachable")
            try:
                await self._call("network_create", "POST", "networks/create", f"network {name}", body=json.dumps(body))
            except Error as err:
                if err.code != CONFLICT:
                    raise

    async def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        await self._ensure_one(name, "overlay", labels)

    async def remove_network(self, name: str) -> None:
        # The edge bridge of earlier versions goes with the project too.
        for net in (convert.edge_network(name), name):
            for data in await self._networks_named(net):
                labels = data.get("Labels") or {}
                if labels.get(LABEL_MANAGED_BY) != MANAGED_BY and labels.get(convert.LABEL_RUNTIME) != "edge":
                    raise Error(CONFLICT, f"Network {net} is not managed by DeployKit.")
                try:
                    await self._call("network_remove", "DELETE", f"networks/{data['Id']}", f"network {net}")
                except Error as err:
                    if err.code == NOT_FOUND:
                        continue
                    if err.code == UNAVAILABLE:
                        raise Error(CONFLICT, f"Network {net} is still in use.") from err
                    raise

    async def list_networks(self) -> list[NetworkInfo]:
        data = await self._call("network_list", "GET", "networks", "networks", params={"filters": MANAGED_FILTER})
        return [
            NetworkInfo(name=str(n["Name"]), labels=dict(n.get("Labels") or {}))
            for n in data
            if n.get("Scope") == "swarm"
        ]

    # -- volumes and images: node-local, the local engine's -----------------------------------------

    async def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        await self._engine.ensure_volume(name, labels)

    async def remove_volume(self, name: str) -> None:
        await self._engine.remove_volume(name)

    async def list_volumes(self) -> list[str]:
        return await self._engine.list_volumes()

    async def list_volume_infos(self) -> list[VolumeInfo]:
        return await self._engine.list_volume_infos()

    async def ensure_image(self, ref: str, *, pull: bool = False) -> None:
        await self._engine.ensure_image(ref, pull=pull)

    async def has_image(self, ref: str) -> bool:
        return await self._engine.has_image(ref)

    async def remove_images(
        self, labels: dict[str, str], *, reference: str | None = None, keep: Collection[str] = ()
    ) -> list[str]:
        return await self._engine.remove_images(labels, reference=reference, keep=keep)

    # -- services as containers ---------------------------------------------------------------------

    async def _service(self, id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("service_inspect", "GET", f"services/{id}", f"swarm service {id}")
        return data

    async def _tasks(self, service_ids: list[str] | None) -> list[dict[str, Any]]:
        params = {"filters": json.dumps({"service": service_ids})} if service_ids else None
        data: list[dict[str, Any]] = await self._call("task_list", "GET", "tasks", "swarm tasks", params=params)
        return data

    async def _task_containers(self, service_id: str | None = None) -> list[dict[str, Any]]:
        wanted = [f"{convert.SWARM_SERVICE_ID}={service_id}"] if service_id else [f"{convert.LABEL_RUNTIME}=swarm"]
        params = {"all": "1", "filters": json.dumps({"label": wanted})}
        data: list[dict[str, Any]] = await self._call(
            "container_list", "GET", "containers/json", "containers", params=params
        )
        return data

    async def _nodes(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = await self._call("node_list", "GET", "nodes", "swarm nodes")
        return data

    async def _node_addresses(self) -> dict[str, str]:
        return convert.node_addresses(await self._nodes())

    def _state(self, service: dict[str, Any], tasks: list[dict[str, Any]], nodes: dict[str, str]) -> ContainerState:
        sid = str(service["ID"])
        failed = self._failed.setdefault(sid, set())
        failed |= convert.failed_task_ids(tasks)
        self._labels[sid] = dict((service.get("Spec") or {}).get("Labels") or {})
        return convert.state_of(service, tasks, nodes, len(failed))

    async def _spread_node(self, spec: ContainerSpec) -> str | None:
        """The node a new replica of ``spec`` goes to: of the ready, active nodes, the one running
        the fewest replicas of the same deployment, then the fewest tasks (then the lowest id).
        None when there is one such node or fewer (Swarm places it as it will)."""
        eligible = sorted(
            str(n["ID"])
            for n in await self._nodes()
            if (n.get("Status") or {}).get("State") == "ready" and (n.get("Spec") or {}).get("Availability") == "active"
        )
        if len(eligible) < 2:
            return None
        key = LABEL_DEPLOYMENT_ID if spec.labels.get(LABEL_DEPLOYMENT_ID) else LABEL_SERVICE_ID
        params = {"filters": json.dumps({"desired-state": ["running"]})}
        tasks: list[dict[str, Any]] = await self._call("task_list", "GET", "tasks", "swarm tasks", params=params)
        load = {n: [0, 0] for n in eligible}
        node_of: dict[str, str] = {}
        for t in tasks:
            node = str(t.get("NodeID") or "")
            node_of[str(t.get("ServiceID"))] = node
            if node in load:
                load[node][1] += 1
        if spec.labels.get(key):
            filters = json.dumps({"label": [f"{key}={spec.labels[key]}"]})
            listed = await self._call("service_list", "GET", "services", "swarm services", params={"filters": filters})
            for sibling in listed:
                # Placed by this runtime a moment ago (its constraint still there), or where its task is.
                node = convert.placed_node(sibling) or node_of.get(str(sibling["ID"]), "")
                if node in load:
                    load[node][0] += 1
        return min(eligible, key=lambda n: (load[n][0], load[n][1], n))

    async def _release(self, sid: str, node_id: str) -> None:
        """Drop the ``node.id==`` constraint that placed the service's first task (once it is placed:
        Swarm keeps a task whose node still meets the new constraints), so that Swarm may move it."""
        deadline = asyncio.get_running_loop().time() + self._settings.place_timeout_s

        async def placed() -> bool:
            return any(t.get("NodeID") for t in await self._tasks([sid]))

        await self._until(placed, deadline)
        service = await self._service(sid)
        spec = service["Spec"]
        placement = (spec.get("TaskTemplate") or {}).get("Placement") or {}
        constraints = [c for c in placement.get("Constraints") or [] if c != convert.placed_on(node_id)]
        if constraints == list(placement.get("Constraints") or []):
            return
        placement["Constraints"] = constraints
        version = (service.get("Version") or {}).get("Index")
        await self._call(
            "service_update",
            "POST",
            f"services/{sid}/update",
            f"swarm service {sid}",
            params={"version": str(version)},
            body=json.dumps(spec),
        )

    async def run_container(
        self, spec: ContainerSpec, *, before_start: Callable[[], Awaitable[None]] | None = None
    ) -> ContainerState:
        what = f"swarm service {spec.name}"
        if before_start is not None:  # a service starts as it is created
            await before_start()
        if spec.volumes and self._node_id is None:
            await self.require_manager()
        async with self._placing:  # replicas started together see each other's placement
            place_on = None if spec.volumes else await self._spread_node(spec)
            body = json.dumps(convert.service_body(spec, node_id=self._node_id, place_on=place_on))
            created = await self._call("service_create", "POST", "services/create", what, body=body)
        sid = str(created["ID"])
        if place_on is not None:
            await self._release(sid, place_on)
        # Wait for the task to run (or to fail): like a container's create + start.
        deadline = asyncio.get_running_loop().time() + self._settings.start_timeout_s
        while True:
            state = await self.inspect_container(sid)
            if state.state in {"running", "exited"} or state.restart_count:
                return state
            if asyncio.get_running_loop().time() > deadline:
                return state
            await asyncio.sleep(self._settings.poll_s)

    async def _scale(self, id: str, replicas: int, *, force: bool = False) -> None:
        service = await self._service(id)
        spec = service["Spec"]
        spec["Mode"] = {"Replicated": {"Replicas": replicas}}
        if force:
            template = spec.setdefault("TaskTemplate", {})
            template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
        version = (service.get("Version") or {}).get("Index")
        await self._call(
            "service_update",
            "POST",
            f"services/{service['ID']}/update",
            f"swarm service {id}",
            params={"version": str(version)},
            body=json.dumps(spec),
        )

    async def stop_container(self, id: str, grace_s: float = 10.0) -> None:
        """Scale to 0 and wait (up to the grace period and a little) for the task to stop."""
        try:
            await self._scale(id, 0)
        except Error as err:
            if err.code == NOT_FOUND:
                return
            raise
        deadline = asyncio.get_running_loop().time() + grace_s + 10.0
        while asyncio.get_running_loop().time() < deadline:
            tasks = await self._tasks([id])
            if not any((t.get("Status") or {}).get("State") in convert.PENDING | {"running"} for t in tasks):
                return
            await asyncio.sleep(self._settings.poll_s)

    async def start_container(self, id: str) -> None:
        await self._scale(id, 1)

    async def restart_container(self, id: str, grace_s: float = 10.0) -> None:
        """A forced update: Swarm replaces the task (start-first, or stop-first with volumes)."""
        await self._scale(id, 1, force=True)

    async def remove_container(self, id: str) -> None:
        """Scale to 0, wait (bounded) until Swarm has reaped the service's tasks, then remove it and
        wait for its task containers on this node to go, as a container's removal is done when it
        returns (its volume can be removed next).

        Removing a service whose tasks the task reaper is deleting at that moment crashes the
        20.10 engine (a nil task in swarmkit's ``SetServiceTasksRemove``, moby/swarmkit#3216: the
        whole dockerd exits). The reaper deletes the tasks a scale-down marks ``remove`` once they
        have stopped, and never the slot's history (earlier tasks, shut down: a crash loop leaves
        several), so a service is removed once it has no task left to reap: at once for a crash
        loop, rather than after the whole timeout waiting for history that stays."""
        try:
            service = await self._service(id)
        except Error as err:
            if err.code == NOT_FOUND:
                return
            raise
        sid = str(service["ID"])
        container = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
        grace = int(container.get("StopGracePeriod") or 0) / 1e9
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace + self._settings.remove_timeout_s
        try:
            if convert.replicas_of(service):
                await self._scale(sid, 0)
            await self._until(lambda: self._nothing_to_reap(sid), deadline)
            await self._call("service_remove", "DELETE", f"services/{sid}", f"swarm service {id}")
        except Error as err:
            if err.code != NOT_FOUND:
                raise
        await self._until(lambda: self._no_task_containers(sid), deadline)

    async def _nothing_to_reap(self, sid: str) -> bool:
        """No task of ``sid`` runs, is starting, or waits for the reaper (marked ``remove``)."""
        return not any(convert.to_reap(t) for t in await self._tasks([sid]))

    async def _no_task_containers(self, sid: str) -> bool:
        return not await self._task_containers(sid)

    async def _until(self, done: Callable[[], Awaitable[bool]], deadline: float) -> bool:
        """Poll ``done`` until it is true (True) or ``deadline`` (loop time) passes (False)."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            if await done():
                return True
            await asyncio.sleep(self._settings.poll_s)
        return False

    async def inspect_container(self, id: str) -> ContainerState:
        service = await self._service(id)
        sid = str(service["ID"])
        tasks = await self._tasks([sid])
        return self._state(service, tasks, await self._node_addresses())

    async def list_containers(self) -> list[ContainerState]:
        services = await self._call(
            "service_list", "GET", "services", "swarm services", params={"filters": MANAGED_FILTER}
        )
        if not services:
            return []
        by_service: dict[str, list[dict[str, Any]]] = {str(s["ID"]): [] for s in services}
        for task in await self._tasks(None):
            if str(task.get("ServiceID")) in by_service:
                by_service[str(task["ServiceID"])].append(task)
        nodes = await self._node_addresses()
        return [self._state(s, by_service[str(s["ID"])], nodes) for s in services]

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        filters = json.dumps({"type": ["container", "service"]})
        async with self._stream("events", "events", "the event stream", {"filters": filters}) as response:
            try:
                async for raw in response.content:
                    if not raw.strip():
                        continue
                    try:
                        event = convert.event_from_json(json.loads(raw), self._labels)
                    except (ValueError, KeyError):
                        continue
                    if event is not None:
                        yield event
            except (aiohttp.ClientError, OSError) as exc:
                raise Error(UNAVAILABLE, "The Docker engine closed the event stream.") from exc
        raise Error(UNAVAILABLE, "The Docker engine closed the event stream.")

    async def stats(self, id: str) -> ContainerStats:
        """The running task's stats, when it runs on this node. Raises ``not_found`` otherwise."""
        for c in await self._task_containers(id):
            if c.get("State") == "running":
                return replace(await self._engine.stats(str(c["Id"])), container_id=id)
        raise Error(NOT_FOUND, f"No task of swarm service {id} runs on this node.")

    # -- logs -------------------------------------------------------------------------------------

    async def follow(self, container_id: str, tail: int = 100) -> AsyncIterator[LogLine]:
        params = {"follow": "1", "stdout": "1", "stderr": "1", "timestamps": "1", "tail": str(max(0, tail))}
        what = f"swarm service {container_id}"
        async with self._stream("service_logs", f"services/{container_id}/logs", what, params) as response:
            try:
                async for line in log_lines(container_id, response.content):
                    yield line
            except (aiohttp.ClientError, OSError) as exc:
                raise Error(UNAVAILABLE, "The Docker engine closed the log stream.") from exc

    async def tail(self, container_id: str, lines: int = 50) -> list[LogLine]:
        params = {"follow": "0", "stdout": "1", "stderr": "1", "timestamps": "1", "tail": str(max(0, lines))}
        what = f"swarm service {container_id}"
        out: list[LogLine] = []
        async with self._stream("service_logs", f"services/{container_id}/logs", what, params) as response:
            try:
                async for line in log_lines(container_id, response.content):
                    out.append(line)
            except (aiohttp.ClientError, OSError) as exc:
                raise Error(UNAVAILABLE, "The Docker engine closed the log stream.") from exc
        return out[-lines:] if lines else []
