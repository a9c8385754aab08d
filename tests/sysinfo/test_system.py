"""SystemInfo: best effort everywhere, real figures from the host and the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deploykit.errors import UNAVAILABLE, Error
from deploykit.ingress import Route
from deploykit_docker import DockerRuntime
from deploykit_sysinfo import SystemInfo


def _unset(name: str) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        raise AssertionError(f"{name} was not expected")

    return call


@dataclass
class FakeDocker:
    info_fn: Callable[[], Awaitable[dict[str, Any]]] = field(default_factory=lambda: _unset("info"))
    version_fn: Callable[[], Awaitable[dict[str, Any]]] = field(default_factory=lambda: _unset("version"))
    disk_usage_fn: Callable[[], Awaitable[dict[str, Any]]] = field(default_factory=lambda: _unset("disk_usage"))

    async def info(self) -> dict[str, Any]:
        return await self.info_fn()

    async def version(self) -> dict[str, Any]:
        return await self.version_fn()

    async def disk_usage(self) -> dict[str, Any]:
        return await self.disk_usage_fn()


@dataclass
class FakeIngress:
    up: bool

    async def ping(self) -> bool:
        return self.up

    async def sync_routes(self, routes: list[Route]) -> None:
        raise AssertionError("unexpected call: sync_routes")

    async def set_route(self, route: Route) -> None:
        raise AssertionError("unexpected call: set_route")

    async def remove_route(self, service_id: str) -> None:
        raise AssertionError("unexpected call: remove_route")


async def down() -> dict[str, Any]:
    raise Error(UNAVAILABLE, "The Docker engine is not reachable.")


async def test_docker_down_reports_unreachable_and_the_rest_still_answers(tmp_path: Path) -> None:
    db = tmp_path / "deploykit.db"
    db.write_bytes(b"x" * 4096)
    (tmp_path / "deploykit.db-wal").write_bytes(b"y" * 1000)
    system = SystemInfo(
        version="0.1.0",
        docker=FakeDocker(info_fn=down, version_fn=down, disk_usage_fn=down),
        database_path=str(db),
        ingress=FakeIngress(up=False),
    )

    about = await system.about()
    status = await system.status()

    assert about.version == "0.1.0"
    assert about.docker == {"reachable": False, "error": "The Docker engine is not reachable."}
    assert about.database == {"path": str(db.resolve()), "size_bytes": 4096, "wal_bytes": 1000, "total_bytes": 5096}
    assert about.ingress == {"configured": True, "reachable": False}
    assert status.docker == {"reachable": False, "error": "The Docker engine is not reachable."}
    assert status.host["memory"]["total_bytes"] > 0
    assert [d["path"] for d in status.host["disks"]] == ["/"]


async def test_without_collaborators_every_part_is_unreachable_not_an_error() -> None:
    system = SystemInfo(version="0.1.0")
    about = await system.about()
    assert about.docker == {"reachable": False}
    assert about.ingress == {"configured": False, "reachable": False}
    assert about.database["total_bytes"] == 0


async def test_docker_figures_are_read_from_info_and_disk_usage() -> None:
    async def info() -> dict[str, Any]:
        return {"Containers": 3, "ContainersRunning": 2, "ContainersStopped": 1, "Images": 4, "DockerRootDir": "/"}

    async def df() -> dict[str, Any]:
        return {
            "LayersSize": 1000,
            "Containers": [{"SizeRw": 10}, {"SizeRw": 5}],
            "Volumes": [{"UsageData": {"Size": 7}}, {"UsageData": {"Size": -1}}],
            "BuildCache": [{"Size": 3}],
        }

    status = await SystemInfo(version="x", docker=FakeDocker(info_fn=info, disk_usage_fn=df)).status()

    assert status.docker["containers"] == {"total": 3, "running": 2, "paused": 0, "stopped": 1}
    assert status.docker["images"] == 4
    assert status.docker["volumes"] == 2
    assert status.docker["disk_usage"] == {
        "images_bytes": 1000,
        "containers_bytes": 15,
        "volumes_bytes": 7,
        "build_cache_bytes": 3,
    }
    assert [d["name"] for d in status.host["disks"]] == ["root", "docker"]


@pytest.mark.docker
async def test_real_engine_and_host_are_described() -> None:
    async with DockerRuntime() as runtime:
        system = SystemInfo(version="0.1.0", docker=runtime)
        about = await system.about()
        status = await system.status()
    assert about.docker["reachable"] is True
    assert about.docker["api_version"]
    assert status.docker["reachable"] is True
    assert status.docker["containers"]["total"] >= status.docker["containers"]["running"] >= 0
    assert "images_bytes" in status.docker["disk_usage"]
    assert status.host["cpu_count"] >= 1
    assert status.host["disks"][0]["total_bytes"] > 0


async def test_refused_engine_socket_reports_unreachable(tmp_path: Path) -> None:
    async with DockerRuntime(url=f"unix://{tmp_path}/nothing.sock") as runtime:
        about = await SystemInfo(version="0.1.0", docker=runtime).about()
    assert about.docker == {"reachable": False, "error": "The Docker engine is not reachable."}
