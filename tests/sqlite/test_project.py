"""ProjectService."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from deploykit.bus import EventType
from deploykit.errors import Error, ValidationError
from deploykit.pending_change import ChangeKind
from deploykit.project import Project, ProjectCreate, ProjectFilter, ProjectUpdate
from deploykit_sqlite import Store
from tests.sqlite.support import RecordingBus, deploy_services, image_service, stage


async def test_create_project_makes_a_suffixed_slug(store: Store) -> None:
    project = await store.projects.create_project(ProjectCreate(name="My Shop"))
    assert project.name == "My Shop"
    assert project.slug.startswith("my-shop-")
    assert len(project.slug) == len("my-shop-") + 6
    assert project.network_name == f"dk-{project.slug}"
    assert await store.projects.get_project(project.id) == project


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "name: must not be empty"),
        ("   ", "name: must not be empty"),
        ("x" * 101, "name: must be at most 100 characters"),
        ("bad\x01name", "name: must not contain control characters"),
    ],
)
async def test_create_project_rejects_bad_names(store: Store, name: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        await store.projects.create_project(ProjectCreate(name=name))
    assert (info.value.code, info.value.message) == ("invalid", message)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("get", "Project not found."),
        ("update", "Project not found."),
        ("delete", "Project not found."),
    ],
)
async def test_unknown_project_is_not_found(store: Store, call: str, message: str) -> None:
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: store.projects.get_project("nope"),
        "update": lambda: store.projects.update_project("nope", ProjectUpdate(name="x")),
        "delete": lambda: store.projects.delete_project("nope"),
    }
    with pytest.raises(Error) as info:
        await calls[call]()
    assert (info.value.code, info.value.message) == ("not_found", message)


async def test_list_projects_filters_orders_and_pages(store: Store) -> None:
    for name in ["beta", "Alpha", "gamma", "alpine 100%"]:
        await store.projects.create_project(ProjectCreate(name=name))
    page, total = await store.projects.list_projects(ProjectFilter(limit=2))
    assert total == 4
    assert [p.name for p in page] == ["Alpha", "alpine 100%"]
    found, total = await store.projects.list_projects(ProjectFilter(search="alp"))
    assert (total, sorted(p.name for p in found)) == (2, ["Alpha", "alpine 100%"])
    found, total = await store.projects.list_projects(ProjectFilter(search="100%"))
    assert [p.name for p in found] == ["alpine 100%"]
    found, total = await store.projects.list_projects(ProjectFilter(search="_"))
    assert total == 0


async def test_update_project_renames_but_keeps_the_slug(store: Store, project: Project) -> None:
    updated = await store.projects.update_project(project.id, ProjectUpdate(name="Store"))
    assert (updated.name, updated.slug) == ("Store", project.slug)


async def test_delete_project_cascades_and_tells_the_reconciler_what_to_clean(
    store: Store, project: Project, bus: RecordingBus
) -> None:
    services, _ = await deploy_services(
        store,
        project.id,
        image_service("db", "postgres:16", 5432, volumes=[{"name": "data", "mount_path": "/var/lib/postgresql/data"}]),
        image_service("api"),
    )
    bus.clear()
    await store.projects.delete_project(project.id)
    [event] = bus.events
    assert event.type == EventType.PROJECT_DELETED
    assert event.project_id == project.id
    assert event.payload["project_slug"] == project.slug
    assert event.payload["network"] == f"dk-{project.slug}"
    assert sorted(event.payload["service_ids"]) == sorted(s.id for s in services)
    assert event.payload["volumes"] == [f"dk_{project.slug}_db_data"]
    with pytest.raises(Error):
        await store.services.get_service(services[0].id)
    assert await store.domains.list_all_domains() == []
    with pytest.raises(Error) as info:
        await store.pending_changes.list_pending_changes(project.id)
    assert info.value.code == "not_found"


async def test_delete_project_removes_staged_changes_too(store: Store, project: Project) -> None:
    await stage(store, project.id, ChangeKind.SERVICE_CREATE, image_service("api"))
    await store.projects.delete_project(project.id)
    again = await store.projects.create_project(ProjectCreate(name="Shop"))
    assert await store.pending_changes.list_pending_changes(again.id) == []
