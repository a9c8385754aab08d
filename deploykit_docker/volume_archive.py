"""Named volumes as tar streams, through the engine's archive API, for backups.

The copy never runs anything: a helper container is *created* (never started) with the volume
mounted, and the engine's ``GET``/``PUT /containers/{id}/archive`` reads or fills the mount. Its
image is an empty one imported from a zero-length tar on first use, so no image is ever pulled
and nothing depends on what the services' images contain. While a volume is copied, the running
containers that mount it are paused (frozen, not stopped: requests wait, nothing restarts), so
the copy is what a crash at that instant would leave, and they are unpaused at once afterwards.

Under ``--runtime swarm`` the containers are Swarm task containers (labelled ``deploykit.runtime=swarm``
instead of ``managed-by``): they are paused the same way, which Swarm leaves alone (a paused task
still runs; nothing is rescheduled). They cannot be *stopped* for a restore, though: Swarm starts
a new task at once, so a restore over a volume a task uses names the services to scale to 0.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import logging
import socket
import tarfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiodocker.exceptions import DockerError

from deploykit.errors import CONFLICT, NOT_FOUND, UNAVAILABLE, Error
from deploykit.runtime import LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY, VolumeInfo
from deploykit_docker.errors import translate
from deploykit_docker.runtime import DockerRuntime

log = logging.getLogger(__name__)

COPY_IMAGE = "deploykit/volume-copy:1"
"""An image with no files at all: a helper container only needs a root to mount the volume in."""
MOUNT = "/.deploykit-volume"
LABEL_RUNTIME = "deploykit.runtime"
"""``swarm`` on Swarm task containers (``deploykit_swarm``), which carry no ``managed-by``."""
SWARM_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_BACKUP = "deploykit.backup-helper"
"""Marks helper containers; deliberately not ``managed-by``, so the reconciler never adopts or
sweeps one in the middle of a copy."""
CHUNK = 1 << 20
READ_TIMEOUT_S = 120.0
"""A copy whose engine sends nothing for this long has failed."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over the engine's unix socket."""

    def __init__(self, socket_path: str, timeout_s: float) -> None:
        super().__init__("localhost", timeout=timeout_s)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


def _download_over_unix_socket(socket_path: str, path: str, dest: Path, what: str) -> None:
    conn = _UnixHTTPConnection(socket_path, timeout_s=READ_TIMEOUT_S)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        if response.status == 404:
            raise Error(NOT_FOUND, f"{what} not found.")
        if response.status != 200:
            raise Error(UNAVAILABLE, f"The Docker engine failed on {what} ({response.status}).")
        with dest.open("wb") as fh:
            while chunk := response.read(CHUNK):
                fh.write(chunk)
    finally:
        conn.close()


def _swarm_task(labels: dict[str, str]) -> bool:
    return labels.get(LABEL_RUNTIME) == "swarm" and SWARM_SERVICE_NAME in labels


def _managed(labels: dict[str, str]) -> bool:
    return labels.get(LABEL_MANAGED_BY) == MANAGED_BY or _swarm_task(labels)


def _empty_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    return buf.getvalue()


class DockerVolumeArchiver:
    """``VolumeArchiver`` on a Docker engine: the volumes of the installation ``instance_id``
    (None: those without an instance label), as the reconciler counts ownership."""

    def __init__(self, runtime: DockerRuntime, *, instance_id: str | None = None) -> None:
        self._rt = runtime
        self._instance_id = instance_id

    def owns(self, info: VolumeInfo) -> bool:
        return info.labels.get(LABEL_INSTANCE) == self._instance_id

    async def list_volumes(self) -> list[VolumeInfo]:
        return sorted((v for v in await self._rt.list_volume_infos() if self.owns(v)), key=lambda v: v.name)

    async def volume_exists(self, name: str) -> bool:
        try:
            await self._rt._call("volume_inspect", "GET", f"volumes/{name}", f"volume {name}")
        except Error as err:
            if err.code == NOT_FOUND:
                return False
            raise
        return True

    async def export_volume(self, name: str, dest: Path) -> None:
        if not await self.volume_exists(name):
            raise Error(NOT_FOUND, f"volume {name} not found.")
        async with self._helper(name) as helper, self._paused_users(name):
            await self._download(helper, dest, name)

    async def import_volume(self, name: str, labels: dict[str, str], src: Path, *, replace: bool) -> None:
        if await self.volume_exists(name):
            if not replace:
                raise Error(CONFLICT, f"Volume {name} already exists.")
            try:
                await self._rt._call("volume_remove", "DELETE", f"volumes/{name}", f"volume {name}")
            except Error as err:
                raise Error(CONFLICT, await self._in_use_message(name)) from err
        await self._rt.ensure_volume(name, labels)
        async with self._helper(name) as helper:
            await self._upload(helper, src, name)

    # -- the engine's archive API -------------------------------------------------------------------

    async def _download(self, helper: str, dest: Path, name: str) -> None:
        what = f"volume {name}"
        client = self._rt._client
        socket_path = (
            getattr(client.connector, "path", None) if isinstance(client.connector, aiohttp.UnixConnector) else None
        )
        try:
            if socket_path is not None:
                # aiohttp decodes the engine's chunked tar stream at about 50 MB/s here; the standard
                # library's client reads the same socket at several hundred (measured: 256 MB in 5 s
                # against 0.8 s), and the containers stay paused only as long as this takes.
                await client._check_version()
                path = str(client._canonicalize_url(f"containers/{helper}/archive").with_query(path=MOUNT).path_qs)
                await asyncio.to_thread(_download_over_unix_socket, socket_path, path, dest, what)
                return
            timeout = aiohttp.ClientTimeout(total=None, connect=10)
            async with client._query(
                f"containers/{helper}/archive", "GET", params={"path": MOUNT}, timeout=timeout
            ) as response:
                with dest.open("wb") as fh:
                    async for chunk in response.content.iter_chunked(CHUNK):
                        fh.write(chunk)
        except (DockerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate(exc, what) from exc

    async def _upload(self, helper: str, src: Path, name: str) -> None:
        what = f"volume {name}"
        timeout = aiohttp.ClientTimeout(total=None, connect=10)
        # Entries are rooted at the mount's own name, so they are extracted at "/" (through the mount).
        try:
            with src.open("rb") as fh:
                async with self._rt._client._query(
                    f"containers/{helper}/archive",
                    "PUT",
                    params={"path": "/", "noOverwriteDirNonDir": "1"},
                    data=fh,
                    headers={"Content-Type": "application/x-tar"},
                    timeout=timeout,
                ) as response:
                    await response.read()
        except (DockerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate(exc, what) from exc

    @asynccontextmanager
    async def _helper(self, volume: str) -> AsyncIterator[str]:
        """A created, never started container with ``volume`` mounted at ``MOUNT``; removed after."""
        await self._ensure_copy_image()
        body = {
            "Image": COPY_IMAGE,
            "Cmd": ["/nonexistent"],  # never run; the engine wants a command to create a container
            "Labels": {LABEL_BACKUP: "1"},
            "NetworkDisabled": True,
            "HostConfig": {"Mounts": [{"Type": "volume", "Source": volume, "Target": MOUNT}]},
        }
        name = f"dk-backup-{uuid.uuid4().hex[:12]}"
        created = await self._rt._call(
            "container_create",
            "POST",
            "containers/create",
            f"volume {volume}",
            params={"name": name},
            body=json.dumps(body),
        )
        helper = str(created["Id"])
        try:
            yield helper
        finally:
            await asyncio.shield(self._rt.remove_container(helper))

    async def _ensure_copy_image(self) -> None:
        if await self._rt.has_image(COPY_IMAGE):
            return
        repo, tag = COPY_IMAGE.rsplit(":", 1)
        params = {"fromSrc": "-", "repo": repo, "tag": tag, "changes": f"LABEL {LABEL_MANAGED_BY}={MANAGED_BY}"}
        try:
            async with self._rt._client._query(
                "images/create",
                "POST",
                params=params,
                data=_empty_tar(),
                headers={"Content-Type": "application/x-tar"},
                timeout=aiohttp.ClientTimeout(total=60, connect=10),
            ) as response:
                await response.read()
        except (DockerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise translate(exc, f"image {COPY_IMAGE}") from exc

    async def _users(self, volume: str, *, running: bool) -> list[dict[str, Any]]:
        """The managed containers that mount ``volume``: DeployKit's own and Swarm task containers."""
        wanted: dict[str, list[str]] = {"volume": [volume]}
        if running:
            wanted["status"] = ["running"]
        params = {"filters": json.dumps(wanted), **({} if running else {"all": "1"})}
        found = await self._rt._call("container_list", "GET", "containers/json", f"volume {volume}", params=params)
        return [c for c in found if _managed(c.get("Labels") or {})]

    async def _in_use_message(self, volume: str) -> str:
        try:
            users = await self._users(volume, running=False)
        except Error:
            users = []
        services = sorted({str(c["Labels"][SWARM_SERVICE_NAME]) for c in users if _swarm_task(c["Labels"])})
        if not services:
            return f"Volume {volume} is in use; stop the containers that mount it first."
        # Stopping a task container makes Swarm start another one: the service has to go to 0.
        scale = " ".join(f"{s}=0" for s in services)
        return (
            f"Volume {volume} is in use by the Swarm service(s) {', '.join(services)}; Swarm restarts a "
            f"stopped task, so scale them to 0 first (docker service scale {scale}); "
            "deploykitd serve starts them again."
        )

    @asynccontextmanager
    async def _paused_users(self, volume: str) -> AsyncIterator[list[str]]:
        """Pause the running managed containers (Swarm task containers too) that mount ``volume``;
        unpause them however the copy ends."""
        users = await self._users(volume, running=True)
        paused: list[str] = []
        try:
            for item in users:
                cid = str(item["Id"])
                try:
                    await self._rt._call("container_pause", "POST", f"containers/{cid}/pause", f"container {cid[:12]}")
                except Error as err:  # it stopped meanwhile: nothing writes through it
                    log.info("not pausing container %s: %s", cid[:12], err.message)
                    continue
                paused.append(cid)
            yield paused
        finally:
            for cid in paused:
                try:
                    await asyncio.shield(
                        self._rt._call(
                            "container_unpause", "POST", f"containers/{cid}/unpause", f"container {cid[:12]}"
                        )
                    )
                except Error as err:
                    log.warning("could not unpause container %s: %s", cid[:12], err.message)
