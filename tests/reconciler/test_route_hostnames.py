"""A domain added to or removed from a running service reaches the ingress with the same upstreams:
the route is re-sent when only its hostnames change."""

from __future__ import annotations

import pytest

from deploykit.ingress import Route
from tests.reconciler.support import Harness, httpd
from tests.wait import wait_for

pytestmark = pytest.mark.docker


class RecordingIngress:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    async def ping(self) -> bool:
        return True

    async def sync_routes(self, routes: list[Route]) -> None:
        raise AssertionError("unexpected call: sync_routes")

    async def set_route(self, route: Route) -> None:
        self.routes.append(route)

    async def remove_route(self, service_id: str) -> None:
        pass


async def test_a_domain_change_alone_resends_the_route(harness: Harness) -> None:
    ingress = RecordingIngress()
    harness.ingress = ingress
    await harness.stop()
    await harness.start(interval_s=3600)  # the store's domain.added|removed alone wake it
    project = await harness.project("Hosts")
    service = await harness.create_service(project, "web", port=8080, command=httpd())
    (first,) = await harness.deployments(service.id)
    await harness.wait_deployment(first.id, "healthy")
    generated = f"web-{project.slug}.localhost"
    upstreams = ingress.routes[-1].upstreams
    assert ingress.routes[-1].hostnames == [generated]

    async def last_hostnames(expected: list[str]) -> bool:
        return bool(ingress.routes) and ingress.routes[-1].hostnames == expected

    await harness.store.domains.add_domain(service.id, "shop.example.com")
    await wait_for(
        lambda: last_hostnames([generated, "shop.example.com"]), within=20, message="the route with the new domain"
    )
    assert ingress.routes[-1].upstreams == upstreams

    await harness.store.domains.delete_domain(service.id, "shop.example.com")
    await wait_for(lambda: last_hostnames([generated]), within=20, message="the route without the removed domain")
    assert ingress.routes[-1].upstreams == upstreams
