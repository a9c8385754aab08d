"""Cached answers (``Endpoint.cached``): the project list is answered from its last serialized
page while the store's data version is unchanged, and afresh as soon as it changes; every
request is still authenticated, rate limited and validated."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from starlette.applications import Starlette

from deploykit.errors import UNAUTHORIZED, Error
from deploykit.project import Project, ProjectFilter
from deploykit_http.app import build_app
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for
from tests.http.fakes import World

AT = datetime(2026, 1, 1, tzinfo=UTC)


def project(name: str) -> Project:
    return Project(id=f"id-{name}", name=name, slug=name.lower(), created_at=AT, updated_at=AT)


@dataclasses.dataclass
class Store:
    """The projects the fake store holds, its data version, and the filters it was asked."""

    projects: list[Project]
    version: int | None = 1
    asked: list[ProjectFilter] = dataclasses.field(default_factory=list)

    def list_projects(self, filt: ProjectFilter) -> tuple[list[Project], int]:
        self.asked.append(filt)
        return self.projects[filt.offset : filt.offset + filt.limit], len(self.projects)


def app_over(world: World, store: Store, settings: HTTPSettings) -> Starlette:
    world.projects.list_projects_fn = store.list_projects
    collaborators = dataclasses.replace(world.collaborators(), data_version=lambda: store.version)
    return build_app(collaborators, settings)


def names(body: dict[str, object]) -> list[str]:
    data = body["data"]
    assert isinstance(data, list)
    return [p["name"] for p in data]


async def test_an_unchanged_store_answers_the_same_page_without_reading_it(
    world: World, settings: HTTPSettings
) -> None:
    store = Store([project("Alpha"), project("Beta")])
    async with client_for(app_over(world, store, settings)) as c:
        first = await c.get("/projects")
        again = await c.get("/projects", params={"limit": "20"})  # the same query once validated
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        assert again.headers["content-type"] == "application/json"
        assert names(again.json()) == ["Alpha", "Beta"]
        assert len(store.asked) == 1


async def test_a_new_data_version_reads_the_store_again(world: World, settings: HTTPSettings) -> None:
    store = Store([project("Alpha")])
    async with client_for(app_over(world, store, settings)) as c:
        assert names((await c.get("/projects")).json()) == ["Alpha"]
        store.projects.append(project("Beta"))
        store.version = 2
        body = (await c.get("/projects")).json()
        assert names(body) == ["Alpha", "Beta"]
        assert body["total_count"] == 2
        assert len(store.asked) == 2


async def test_each_page_is_its_own_answer(world: World, settings: HTTPSettings) -> None:
    store = Store([project("Alpha"), project("Beta"), project("Gamma")])
    async with client_for(app_over(world, store, settings)) as c:
        assert names((await c.get("/projects", params={"limit": 1})).json()) == ["Alpha"]
        assert names((await c.get("/projects", params={"limit": 1, "offset": 1})).json()) == ["Beta"]
        assert names((await c.get("/projects", params={"limit": 1})).json()) == ["Alpha"]
        assert [(f.offset, f.limit) for f in store.asked] == [(0, 1), (1, 1)]


async def test_a_store_without_a_data_version_is_read_every_time(world: World, settings: HTTPSettings) -> None:
    store = Store([project("Alpha")], version=None)
    async with client_for(app_over(world, store, settings)) as c:
        for _ in range(3):
            assert names((await c.get("/projects")).json()) == ["Alpha"]
        assert len(store.asked) == 3


async def test_a_cached_page_is_still_refused_without_a_valid_token_or_query(
    world: World, settings: HTTPSettings
) -> None:
    store = Store([project("Alpha")])
    app = app_over(world, store, settings)
    async with client_for(app) as c:
        assert (await c.get("/projects")).status_code == 200
        assert (await c.get("/projects", params={"limit": 0})).status_code == 422
        world.auth.logout_fn = lambda session_id: None
        assert (await c.post("/auth/logout")).status_code == 204
        world.auth.authenticate_fn = lambda token: (_ for _ in ()).throw(
            Error(UNAUTHORIZED, "The token is invalid or expired.")
        )
        assert (await c.get("/projects")).status_code == 401  # its identity was evicted at logout
    async with client_for(app, token=None) as anonymous:
        assert (await anonymous.get("/projects")).status_code == 401
    async with client_for(app, token="revoked-token") as revoked:
        assert (await revoked.get("/projects")).status_code == 401
    assert len(store.asked) == 1
