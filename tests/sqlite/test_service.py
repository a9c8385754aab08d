"""ServiceService: reads and runtime bookkeeping of applied services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from deploykit.bus import EventType
from deploykit.errors import Error
from deploykit.project import Project
from deploykit.service import ImageSource, ServiceFilter, ServiceStatus
from deploykit_sqlite import Store
from tests.sqlite.support import RecordingBus, deploy_services, image_service


async def test_list_services_filters_and_orders_by_name(store: Store, project: Project) -> None:
    services, _ = await deploy_services(
        store, project.id, image_service("web"), image_service("API"), image_service("db", port=None)
    )
    listed, total = await store.services.list_services(ServiceFilter(project_id=project.id))
    assert total == 3
    assert [s.name for s in listed] == ["API", "db", "web"]
    by_name, total = await store.services.list_services(ServiceFilter(project_id=project.id, name="api"))
    assert (total, [s.id for s in by_name]) == (1, [services[1].id])
    page, total = await store.services.list_services(ServiceFilter(project_id=project.id, offset=1, limit=1))
    assert (total, [s.name for s in page]) == (3, ["db"])


async def test_service_read_shape(store: Store, project: Project) -> None:
    [service], _ = await deploy_services(store, project.id, image_service("My_API", port=8080))
    assert service.name == "My_API"
    assert service.slug == "my-api"
    assert service.config.source == ImageSource(image="nginx:1.27")
    assert service.config.port == 8080
    assert service.status == ServiceStatus.CREATED
    assert service.project_id == project.id


async def test_set_service_status_publishes_only_changes(store: Store, project: Project, bus: RecordingBus) -> None:
    [service], _ = await deploy_services(store, project.id, image_service("api"))
    bus.clear()
    updated = await store.services.set_service_status(service.id, ServiceStatus.RUNNING)
    assert updated.status == ServiceStatus.RUNNING
    await store.services.set_service_status(service.id, ServiceStatus.RUNNING)
    [event] = bus.events
    assert (event.type, event.service_id, event.project_id) == (
        EventType.SERVICE_STATUS_CHANGED,
        service.id,
        project.id,
    )
    assert event.payload == {"status": "running", "previous": "created"}


async def test_set_service_stopped_persists(store: Store, project: Project) -> None:
    [service], _ = await deploy_services(store, project.id, image_service("api"))
    assert (await store.services.set_service_stopped(service.id, True)).stopped is True
    assert (await store.services.get_service(service.id)).stopped is True
    assert (await store.services.set_service_stopped(service.id, False)).stopped is False


@pytest.mark.parametrize("call", ["get", "status", "stopped"])
async def test_unknown_service_is_not_found(store: Store, call: str) -> None:
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: store.services.get_service("nope"),
        "status": lambda: store.services.set_service_status("nope", ServiceStatus.RUNNING),
        "stopped": lambda: store.services.set_service_stopped("nope", True),
    }
    with pytest.raises(Error) as info:
        await calls[call]()
    assert (info.value.code, info.value.message) == ("not_found", "Service not found.")
