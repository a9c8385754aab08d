"""The engine housekeeping routes over a fake inventory: admins only, owners by name, pruning."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette

from deploykit.engine import EngineObject, EngineObjectKind, EngineUsage, PruneRequest, PruneResult
from deploykit_http.app import build_app
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for, make_app
from tests.http.fakes import PROJECT, SERVICE, World


def unset(name: str) -> Callable[..., Awaitable[Any]]:
    async def fail(*args: object) -> Any:
        raise AssertionError(f"{name} was not expected")

    return fail


@dataclass
class FakeEngine:
    engine_usage_fn: Callable[[], Awaitable[EngineUsage]] = field(default_factory=lambda: unset("engine_usage"))
    prune_engine_fn: Callable[[PruneRequest], Awaitable[PruneResult]] = field(
        default_factory=lambda: unset("prune_engine")
    )

    async def engine_usage(self) -> EngineUsage:
        return await self.engine_usage_fn()

    async def prune_engine(self, req: PruneRequest) -> PruneResult:
        return await self.prune_engine_fn(req)


def app_with(world: World, settings: HTTPSettings, engine: FakeEngine) -> Starlette:
    return build_app(dataclasses.replace(world.collaborators(), engine=engine), settings)


OBJECTS = [
    EngineObject(EngineObjectKind.CONTAINER, "c1", "dk_shop_api_0_abc", 4096, True, PROJECT.id, SERVICE.id, "running"),
    EngineObject(EngineObjectKind.VOLUME, "v1", "dk_gone_db_data", 10, True, "p-deleted", "s-deleted"),
    EngineObject(EngineObjectKind.IMAGE, "sha256:1", "<none>", 2000, False),
]


async def test_admins_see_every_object_with_its_owner_by_name(world: World, settings: HTTPSettings) -> None:
    async def usage() -> EngineUsage:
        return EngineUsage(objects=OBJECTS, build_cache_bytes=123, dangling_images=1, dangling_bytes=2000)

    async with client_for(app_with(world, settings, FakeEngine(engine_usage_fn=usage))) as c:
        r = await c.get("/system/engine")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["build_cache_bytes"], body["dangling_images"], body["dangling_bytes"]) == (123, 1, 2000)
    assert [(o["kind"], o["name"], o["size_bytes"], o["managed"], o["owner"]) for o in body["data"]] == [
        (
            "container",
            "dk_shop_api_0_abc",
            4096,
            True,
            {"project_id": PROJECT.id, "project_name": "Shop", "service_id": SERVICE.id, "service_name": "api"},
        ),
        (
            "volume",
            "dk_gone_db_data",
            10,
            True,
            {"project_id": "p-deleted", "project_name": None, "service_id": "s-deleted", "service_name": None},
        ),
        ("image", "<none>", 2000, False, None),
    ]


@pytest.mark.parametrize(("token", "status"), [("member-token", 403), (None, 401)])
async def test_members_and_strangers_may_neither_look_nor_prune(
    world: World, settings: HTTPSettings, token: str | None, status: int
) -> None:
    async with client_for(app_with(world, settings, FakeEngine()), token) as c:
        assert (await c.get("/system/engine")).status_code == status
        assert (await c.post("/system/engine/prune", json={})).status_code == status


async def test_prune_passes_the_choice_and_reports_what_it_reclaimed(world: World, settings: HTTPSettings) -> None:
    asked: list[PruneRequest] = []

    async def prune(req: PruneRequest) -> PruneResult:
        req.validate()
        asked.append(req)
        return PruneResult(images_deleted=3, build_cache_deleted=0, reclaimed_bytes=5000)

    async with client_for(app_with(world, settings, FakeEngine(prune_engine_fn=prune))) as c:
        r = await c.post("/system/engine/prune", json={"build_cache": False})
        nothing = await c.post("/system/engine/prune", json={"dangling_images": False, "build_cache": False})
        bad = await c.post("/system/engine/prune", json={"build_cache": "lots"})
    assert r.status_code == 200, r.text
    assert r.json() == {"images_deleted": 3, "build_cache_deleted": 0, "reclaimed_bytes": 5000}
    assert asked == [PruneRequest(dangling_images=True, build_cache=False)]
    assert (nothing.status_code, nothing.json()["fields"]) == (
        422,
        {"dangling_images": ["choose at least one of dangling_images and build_cache"]},
    )
    assert (bad.status_code, list(bad.json()["fields"])) == (422, ["build_cache"])


async def test_without_an_engine_the_routes_answer_503(world: World, settings: HTTPSettings) -> None:
    async with client_for(make_app(world, settings)) as c:
        r = await c.get("/system/engine")
    assert (r.status_code, r.json()["error"]) == (503, "unavailable")
