"""``SystemInfo``: the domain's SystemService from psutil, the Docker engine and the database file.

Every part is best effort: a part that cannot be read reports ``reachable: false`` (or an
``error``) and the rest still answers; nothing here raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, Protocol

import psutil

from deploykit.errors import error_message
from deploykit.ingress import Ingress
from deploykit.system import SystemAbout, SystemStatus

log = logging.getLogger(__name__)

DOCKER_TIMEOUT_S = 10.0


class DockerIntrospection(Protocol):
    """What SystemInfo reads from the engine (``deploykit_docker.DockerRuntime`` has it)."""

    async def info(self) -> dict[str, Any]: ...

    async def version(self) -> dict[str, Any]: ...

    async def disk_usage(self) -> dict[str, Any]: ...


class SystemInfo:
    """``SystemInfo(version=..., docker=runtime, database_path=store.path, ingress=caddy)``.
    No I/O until ``about()``/``status()``."""

    def __init__(
        self,
        *,
        version: str,
        docker: DockerIntrospection | None = None,
        database_path: str | None = None,
        ingress: Ingress | None = None,
    ) -> None:
        self._version = version
        self._docker = docker
        self._database_path = database_path
        self._ingress = ingress

    async def about(self) -> SystemAbout:
        docker, ingress = await asyncio.gather(self._docker_about(), self._ingress_state())
        return SystemAbout(
            version=self._version,
            python=platform.python_version(),
            docker=docker,
            database=self._database(),
            ingress=ingress,
        )

    async def status(self) -> SystemStatus:
        docker, ingress = await asyncio.gather(self._docker_status(), self._ingress_state())
        root = docker.get("root_dir") if isinstance(docker.get("root_dir"), str) else None
        host = await asyncio.to_thread(host_status, root)
        return SystemStatus(host=host, docker=docker, ingress=ingress)

    # -- parts ------------------------------------------------------------------------------------

    async def _docker_about(self) -> dict[str, Any]:
        if self._docker is None:
            return {"reachable": False}
        try:
            async with asyncio.timeout(DOCKER_TIMEOUT_S):
                version, info = await asyncio.gather(self._docker.version(), self._docker.info())
        except Exception as exc:
            return {"reachable": False, "error": error_message(exc)}
        return {
            "reachable": True,
            "version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "os": info.get("OperatingSystem"),
            "kernel": info.get("KernelVersion"),
            "architecture": info.get("Architecture"),
            "storage_driver": info.get("Driver"),
            "root_dir": info.get("DockerRootDir"),
            "cpus": info.get("NCPU"),
            "memory_bytes": info.get("MemTotal"),
            "swarm": (info.get("Swarm") or {}).get("LocalNodeState"),
        }

    async def _docker_status(self) -> dict[str, Any]:
        if self._docker is None:
            return {"reachable": False}
        try:
            async with asyncio.timeout(DOCKER_TIMEOUT_S):
                info = await self._docker.info()
        except Exception as exc:
            return {"reachable": False, "error": error_message(exc)}
        out: dict[str, Any] = {
            "reachable": True,
            "root_dir": info.get("DockerRootDir"),
            "containers": {
                "total": info.get("Containers", 0),
                "running": info.get("ContainersRunning", 0),
                "paused": info.get("ContainersPaused", 0),
                "stopped": info.get("ContainersStopped", 0),
            },
            "images": info.get("Images", 0),
        }
        try:
            async with asyncio.timeout(DOCKER_TIMEOUT_S * 3):
                df = await self._docker.disk_usage()
        except Exception as exc:
            out["disk_usage"] = {"error": error_message(exc)}
            return out
        out["volumes"] = len(df.get("Volumes") or [])
        out["disk_usage"] = disk_usage_of(df)
        return out

    async def _ingress_state(self) -> dict[str, Any]:
        if self._ingress is None:
            return {"configured": False, "reachable": False}
        try:
            return {"configured": True, "reachable": bool(await self._ingress.ping())}
        except Exception:
            return {"configured": True, "reachable": False}

    def _database(self) -> dict[str, Any]:
        path = self._database_path
        if not path or path == ":memory:":
            return {"path": path, "size_bytes": 0, "wal_bytes": 0, "total_bytes": 0}
        sizes = {suffix: _size(Path(path + suffix)) for suffix in ("", "-wal", "-shm")}
        return {
            "path": str(Path(path).resolve()),
            "size_bytes": sizes[""],
            "wal_bytes": sizes["-wal"],
            "total_bytes": sum(sizes.values()),
        }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def disk_usage_of(df: dict[str, Any]) -> dict[str, Any]:
    """``docker system df`` in bytes per kind."""
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    return {
        "images_bytes": int(df.get("LayersSize") or sum(int(i.get("Size") or 0) for i in images)),
        "containers_bytes": sum(int(c.get("SizeRw") or 0) for c in containers),
        "volumes_bytes": sum(max(0, int((v.get("UsageData") or {}).get("Size") or 0)) for v in volumes),
        "build_cache_bytes": sum(int(b.get("Size") or 0) for b in cache),
    }


def host_status(docker_root: str | None) -> dict[str, Any]:
    """CPU, memory, swap, load and the disks of ``/`` and Docker's root (psutil; blocking)."""
    out: dict[str, Any] = {}
    try:
        out["cpu_percent"] = psutil.cpu_percent(interval=0.1)
        out["cpu_count"] = psutil.cpu_count() or 0
        load = os.getloadavg()
        out["load"] = {"1m": load[0], "5m": load[1], "15m": load[2]}
        mem = psutil.virtual_memory()
        out["memory"] = {
            "total_bytes": mem.total,
            "used_bytes": mem.used,
            "available_bytes": mem.available,
            "percent": mem.percent,
        }
        swap = psutil.swap_memory()
        out["swap"] = {"total_bytes": swap.total, "used_bytes": swap.used, "percent": swap.percent}
        out["uptime_s"] = max(0.0, time.time() - psutil.boot_time())
    except (OSError, AttributeError) as exc:
        log.warning("host status incomplete: %s", exc)
        out["error"] = "Some host figures could not be read."
    disks = []
    for label, path in (("root", "/"), ("docker", docker_root)):
        if not path:
            continue
        try:
            usage = psutil.disk_usage(path)
        except OSError:
            disks.append({"name": label, "path": path, "reachable": False})
            continue
        disks.append(
            {
                "name": label,
                "path": path,
                "reachable": True,
                "total_bytes": usage.total,
                "used_bytes": usage.used,
                "free_bytes": usage.free,
                "percent": usage.percent,
            }
        )
    out["disks"] = disks
    return out
