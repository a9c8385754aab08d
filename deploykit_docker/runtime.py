"""``DockerRuntime``: the domain's Runtime and LogStreamer on one Docker engine, through aiodocker.

Every engine call goes through ``_call``/``_stream`` so that failures are translated once and
calls are counted (``api_calls``; the reconcile benchmark reads it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from deploykit.errors import CONFLICT, INTERNAL, INVALID, NOT_FOUND, UNAVAILABLE, Error
from deploykit.logs import LogLine
from deploykit.runtime import (
    LABEL_MANAGED_BY,
    LABEL_SERVICE_ID,
    MANAGED_BY,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    NetworkInfo,
    RuntimeEvent,
    VolumeInfo,
)
from deploykit_docker import containers as convert
from deploykit_docker.errors import translate, translate_pull
from deploykit_docker.keeper import BridgeKeepers, bridge_of
from deploykit_docker.logs import lines as log_lines

log = logging.getLogger(__name__)

MANAGED_FILTER = json.dumps({"label": [f"{LABEL_MANAGED_BY}={MANAGED_BY}"]})
EVENT_ACTIONS = (
    "create", "start", "die", "destroy", "oom", "health_status", "stop", "kill", "restart", "disconnect",
)  # fmt: skip


@dataclass(frozen=True)
class DockerSettings:
    connect_timeout_s: float = 10.0
    """How long to wait for the engine's socket to accept a connection."""
    request_timeout_s: float = 120.0
    """Ceiling for one short API call (stops add their grace period on top)."""


class DockerRuntime:
    """Runtime + LogStreamer on a Docker engine. ``url`` defaults to DOCKER_HOST or the local
    socket. Constructing it does no I/O; ``open()`` builds the client (it never fails because the
    engine is down: calls then raise ``unavailable`` until it is back)."""

    def __init__(self, url: str | None = None, *, settings: DockerSettings | None = None) -> None:
        self._url = url
        self._settings = settings or DockerSettings()
        self._docker: aiodocker.Docker | None = None
        self.api_calls: Counter[str] = Counter()
        self._network_locks: dict[str, asyncio.Lock] = {}
        self.keepers = BridgeKeepers()

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

    async def __aenter__(self) -> DockerRuntime:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def _client(self) -> aiodocker.Docker:
        if self._docker is None:
            raise Error(UNAVAILABLE, "The Docker runtime is not open.")
        return self._docker

    def _timeout(self, extra_s: float = 0.0) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self._settings.request_timeout_s + extra_s, connect=self._settings.connect_timeout_s
        )

    async def _call(
        self,
        op: str,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        extra_timeout_s: float = 0.0,
    ) -> Any:
        self.api_calls[op] += 1
        try:
            return await self._client._query_json(
                path, method, params=params, data=body, timeout=self._timeout(extra_timeout_s)
            )
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

    # -- engine -----------------------------------------------------------------------------------

    async def ping(self) -> bool:
        try:
            await self._call("version", "GET", "version", "the engine")
        except Error:
            return False
        return True

    async def info(self) -> dict[str, Any]:
        """``docker info``. Raises ``unavailable``."""
        data: dict[str, Any] = await self._call("info", "GET", "info", "the engine")
        return data

    async def version(self) -> dict[str, Any]:
        """``docker version``. Raises ``unavailable``."""
        data: dict[str, Any] = await self._call("version", "GET", "version", "the engine")
        return data

    async def disk_usage(self) -> dict[str, Any]:
        """``docker system df``. Raises ``unavailable``."""
        data: dict[str, Any] = await self._call("system_df", "GET", "system/df", "disk usage", extra_timeout_s=60)
        return data

    # -- networks ---------------------------------------------------------------------------------

    async def _networks_named(self, name: str) -> list[dict[str, Any]]:
        params = {"filters": json.dumps({"name": [name]})}
        data = await self._call("network_list", "GET", "networks", f"network {name}", params=params)
        # The engine's name filter matches substrings.
        return [n for n in data if n.get("Name") == name]

    async def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        # The engine's duplicate check is racy: two concurrent creates can both succeed.
        async with self._network_locks.setdefault(name, asyncio.Lock()):
            networks = await self._networks_named(name)
            if not networks:
                body = {"Name": name, "Driver": "bridge", "CheckDuplicate": True, "Labels": labels}
                try:
                    await self._call(
                        "network_create", "POST", "networks/create", f"network {name}", body=json.dumps(body)
                    )
                except Error as err:
                    if err.code != CONFLICT:
                        raise
                networks = await self._networks_named(name)
            # Its bridge keeps its carrier when the project's only container is replaced (keeper.py).
            for network in networks:
                bridge = bridge_of(network)
                if bridge is not None:
                    await self.keepers.ensure(str(network["Id"]), bridge)

    async def remove_network(self, name: str) -> None:
        for data in await self._networks_named(name):
            if (data.get("Labels") or {}).get(LABEL_MANAGED_BY) != MANAGED_BY:
                raise Error(CONFLICT, f"Network {name} is not managed by DeployKit.")
            try:
                await self._call("network_remove", "DELETE", f"networks/{data['Id']}", f"network {name}")
            except Error as err:
                if err.code == UNAVAILABLE:
                    # The engine answers 403/500 for a network with endpoints.
                    raise Error(CONFLICT, f"Network {name} is still in use.") from err
                if err.code != NOT_FOUND:
                    raise
            await self.keepers.remove(str(data["Id"]))

    async def list_networks(self) -> list[NetworkInfo]:
        data = await self._call("network_list", "GET", "networks", "networks", params={"filters": MANAGED_FILTER})
        return [NetworkInfo(name=str(n["Name"]), labels=dict(n.get("Labels") or {})) for n in data]

    # -- volumes ----------------------------------------------------------------------------------

    async def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        body = json.dumps({"Name": name, "Labels": labels})
        # Creating an existing volume returns it as it is, labels included.
        volume = await self._call("volume_create", "POST", "volumes/create", f"volume {name}", body=body)
        owner = dict((volume or {}).get("Labels") or {}).get(LABEL_SERVICE_ID)
        if owner is not None and owner != labels.get(LABEL_SERVICE_ID):
            raise Error(INVALID, f"Volume {name} belongs to another service.")

    async def remove_volume(self, name: str) -> None:
        try:
            await self._call("volume_remove", "DELETE", f"volumes/{name}", f"volume {name}")
        except Error as err:
            if err.code != NOT_FOUND:
                raise

    async def list_volume_infos(self) -> list[VolumeInfo]:
        data = await self._call("volume_list", "GET", "volumes", "volumes", params={"filters": MANAGED_FILTER})
        return [VolumeInfo(name=str(v["Name"]), labels=dict(v.get("Labels") or {})) for v in data.get("Volumes") or []]

    async def list_volumes(self) -> list[str]:
        return [v.name for v in await self.list_volume_infos()]

    # -- images -----------------------------------------------------------------------------------

    async def has_image(self, ref: str) -> bool:
        try:
            await self._call("image_inspect", "GET", f"images/{ref}/json", f"image {ref}")
        except Error as err:
            if err.code == NOT_FOUND:
                return False
            raise
        return True

    async def remove_images(
        self, labels: dict[str, str], *, reference: str | None = None, keep: Collection[str] = ()
    ) -> list[str]:
        if not labels and not reference:
            raise Error(INTERNAL, "remove_images needs labels or a reference: it would remove every image.")
        wanted: dict[str, list[str]] = {"label": [f"{k}={v}" for k, v in sorted(labels.items())]}
        if reference is not None:
            wanted["reference"] = [reference]
        params = {"filters": json.dumps(wanted)}
        images = await self._call("image_list", "GET", "images/json", "images", params=params)
        named = _name_pattern(reference) if reference is not None else None
        removed: list[str] = []
        for image in images:
            tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
            if named is not None:
                if not labels and (image.get("Labels") or {}).get(LABEL_MANAGED_BY) == MANAGED_BY:
                    continue  # labelled by an earlier version: its labels say whose it is
                # By name: only the matching tags go (the image goes with its last one); another
                # name given to the same image is not ours to take.
                targets = [t for t in tags if named.match(t) and t.rpartition(":")[0] not in keep]
                force = "0"
            else:
                # Every tag at once (by id, forced only past the tags, never past a container).
                targets, force = [str(image["Id"])], "1" if len(tags) > 1 else "0"
            for target in targets:
                try:
                    await self._call("image_remove", "DELETE", f"images/{target}", f"image {target}",
                                     params={"force": force, "noprune": "0"})  # fmt: skip
                except Error as err:
                    if err.code in (NOT_FOUND, CONFLICT):  # gone already, or a container still uses it
                        continue
                    raise
                removed += [target] if named is not None else tags or [target]
        return removed

    async def prune_images(self, labels: dict[str, str]) -> tuple[int, int]:
        """Remove dangling images carrying ``labels`` (any, when empty); (images, bytes) removed.
        Raises ``unavailable``."""
        wanted: dict[str, list[str]] = {"dangling": ["true"]}
        if labels:
            wanted["label"] = [f"{k}={v}" for k, v in sorted(labels.items())]
        params = {"filters": json.dumps(wanted)}
        data = await self._call("image_prune", "POST", "images/prune", "images", params=params, extra_timeout_s=300)
        deleted = [d for d in (data or {}).get("ImagesDeleted") or [] if d.get("Deleted")]
        return len(deleted), int((data or {}).get("SpaceReclaimed") or 0)

    async def prune_build_cache(self) -> tuple[int, int]:
        """Remove the builder's unused cache; (entries, bytes) removed. Raises ``unavailable``."""
        data = await self._call("build_prune", "POST", "build/prune", "the build cache", extra_timeout_s=300)
        return len((data or {}).get("CachesDeleted") or []), int((data or {}).get("SpaceReclaimed") or 0)

    async def all_networks(self) -> list[dict[str, Any]]:
        """Every network on the engine, managed or not (the housekeeping page). Raises ``unavailable``."""
        data: list[dict[str, Any]] = await self._call("network_list", "GET", "networks", "networks")
        return data

    async def swarm_services(self) -> list[dict[str, Any]]:
        """Every Swarm service, managed or not (the housekeeping page); none when the engine is not
        a swarm manager (it answers 503 then). Raises ``unavailable``."""
        self.api_calls["service_list"] += 1
        try:
            data: list[dict[str, Any]] = await self._client._query_json("services", "GET", timeout=self._timeout(0.0))
        except DockerError as exc:
            if exc.status == 503 and "swarm" in str(exc.message).lower():
                return []
            raise translate(exc, "swarm services") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate(exc, "swarm services") from exc
        return data

    async def ensure_image(self, ref: str, *, pull: bool = False) -> None:
        present = await self.has_image(ref)
        if present and not pull:
            return
        name, tag = convert.split_image_ref(ref)
        self.api_calls["image_pull"] += 1
        try:
            await self._client.images.pull(name, tag=tag)
        except (DockerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            err = translate_pull(exc, ref)
            if present:
                # A mutable tag we could not refresh: the local copy still runs.
                log.warning("could not re-pull %s (%s); using the local image", ref, err.message)
                return
            raise err from exc

    # -- containers -------------------------------------------------------------------------------

    async def run_container(
        self, spec: ContainerSpec, *, before_start: Callable[[], Awaitable[None]] | None = None
    ) -> ContainerState:
        what = f"container {spec.name}"
        body = json.dumps(convert.create_body(spec))
        created = await self._call(
            "container_create", "POST", "containers/create", what, params={"name": spec.name}, body=body
        )
        container_id = str(created["Id"])
        try:
            if before_start is not None:
                await before_start()
            await self._call("container_start", "POST", f"containers/{container_id}/start", what)
            return await self.inspect_container(container_id)
        except Error:
            await self.remove_container(container_id)
            raise

    async def stop_container(self, id: str, grace_s: float = 10.0) -> None:
        try:
            await self._call(
                "container_stop",
                "POST",
                f"containers/{id}/stop",
                f"container {id[:12]}",
                params={"t": str(max(0, round(grace_s)))},
                extra_timeout_s=grace_s,
            )
        except Error as err:
            if err.code != NOT_FOUND:
                raise

    async def start_container(self, id: str) -> None:
        await self._call("container_start", "POST", f"containers/{id}/start", f"container {id[:12]}")

    async def restart_container(self, id: str, grace_s: float = 10.0) -> None:
        await self._call(
            "container_restart",
            "POST",
            f"containers/{id}/restart",
            f"container {id[:12]}",
            params={"t": str(max(0, round(grace_s)))},
            extra_timeout_s=grace_s,
        )

    async def remove_container(self, id: str) -> None:
        try:
            await self._call(
                "container_remove",
                "DELETE",
                f"containers/{id}",
                f"container {id[:12]}",
                params={"force": "1", "v": "0"},
            )
        except Error as err:
            # 409: removal already in progress; the engine finishes it.
            if err.code not in {NOT_FOUND, CONFLICT}:
                raise

    async def inspect_container(self, id: str) -> ContainerState:
        data = await self._call("container_inspect", "GET", f"containers/{id}/json", f"container {id[:12]}")
        return convert.state_from_inspect(data)

    async def list_containers(self) -> list[ContainerState]:
        data = await self._call(
            "container_list", "GET", "containers/json", "containers", params={"all": "1", "filters": MANAGED_FILTER}
        )
        return [convert.state_from_list(item) for item in data]

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        # No label filter on the engine side: it would drop network events (they carry none).
        # Unmanaged containers' events are dropped here instead.
        filters = json.dumps({"type": ["container", "network"], "event": list(EVENT_ACTIONS)})
        async with self._stream("events", "events", "the event stream", {"filters": filters}) as response:
            try:
                async for raw in response.content:
                    if not raw.strip():
                        continue
                    try:
                        event = convert.event_from_json(json.loads(raw))
                    except (ValueError, KeyError):
                        continue
                    if event is not None:
                        yield event
            except (aiohttp.ClientError, OSError) as exc:
                raise Error(UNAVAILABLE, "The Docker engine closed the event stream.") from exc
        raise Error(UNAVAILABLE, "The Docker engine closed the event stream.")

    async def stats(self, id: str) -> ContainerStats:
        data = await self._call(
            "container_stats",
            "GET",
            f"containers/{id}/stats",
            f"container {id[:12]}",
            params={"stream": "0"},
        )
        if str(data.get("read") or "").startswith("0001-"):
            # The engine answers a container that is not running with blank stats (no memory, no
            # time), not an error: a sample of them would chart a replica that stopped as zero.
            raise Error(NOT_FOUND, f"Container {id[:12]} is not running.")
        return convert.stats_from_json(id, data)

    # -- logs -------------------------------------------------------------------------------------

    async def follow(self, container_id: str, tail: int = 100) -> AsyncIterator[LogLine]:
        params = {"follow": "1", "stdout": "1", "stderr": "1", "timestamps": "1", "tail": str(max(0, tail))}
        what = f"container {container_id[:12]}"
        async with self._stream("container_logs", f"containers/{container_id}/logs", what, params) as response:
            try:
                async for line in log_lines(container_id, response.content):
                    yield line
            except (aiohttp.ClientError, OSError) as exc:
                raise Error(UNAVAILABLE, "The Docker engine closed the log stream.") from exc

    async def tail(self, container_id: str, lines: int = 50) -> list[LogLine]:
        params = {"follow": "0", "stdout": "1", "stderr": "1", "timestamps": "1", "tail": str(max(0, lines))}
        what = f"container {container_id[:12]}"
        out: list[LogLine] = []
        async with self._stream("container_logs", f"containers/{container_id}/logs", what, params) as response:
            try:
                async for line in log_lines(container_id, response.content):
                    out.append(line)
            except (aiohttp.ClientError, OSError) as exc:
                raise Error(UNAVAILABLE, "The Docker engine closed the log stream.") from exc
        return out[-lines:] if lines else []


def _name_pattern(reference: str) -> re.Pattern[str]:
    """The engine's ``reference`` filter (a glob: ``*``, ``?``, ``[a-z]``, which never match a
    ``/``) as a regular expression over ``name:tag``; without a tag in it, any tag."""

    def one(c: str) -> str:
        if c.startswith("["):
            return c
        return "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)

    body = "".join(one(c) for c in re.findall(r"\[[^\]/]+\]|[*?]|[^*?\[]+|\[", reference))
    return re.compile(f"^{body}$" if ":" in reference else f"^{body}:[^/]*$")
