"""RouteTable: one admin change per real route change, held-out replicas left out, routes dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploykit.ingress import Domain, Route
from deploykit_reconciler.routes import RouteTable
from tests.reconciler.fakes import container, deployment


@dataclass
class Ingress:
    sent: list[Route] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    async def ping(self) -> bool:
        return True

    async def sync_routes(self, routes: list[Route]) -> None:
        raise AssertionError("unexpected call: sync_routes")

    async def set_route(self, route: Route) -> None:
        self.sent.append(route)

    async def remove_route(self, service_id: str) -> None:
        self.removed.append(service_id)


@dataclass
class Domains:
    hostnames: list[str] = field(default_factory=lambda: ["api-shop.localhost"])

    async def list_domains(self, service_id: str) -> list[Domain]:
        return [Domain(h, "p1", service_id) for h in self.hostnames]


async def test_a_route_is_sent_only_when_its_upstreams_or_hostnames_change() -> None:
    ingress, domains = Ingress(), Domains()
    routes = RouteTable(ingress=ingress, domains=domains)  # type: ignore[arg-type]
    d = deployment(port=8080)
    a, b = container("c1", ip="10.0.0.2"), container("c2", replica=1, ip="10.0.0.3")

    await routes.point(d, [b, a])
    await routes.point(d, [a, b])  # the same route
    domains.hostnames.append("shop.example.com")
    await routes.point(d, [a, b])
    await routes.point(d, [a])

    assert [(r.hostnames, r.upstreams) for r in ingress.sent] == [
        (["api-shop.localhost"], ["10.0.0.2:8080", "10.0.0.3:8080"]),
        (["api-shop.localhost", "shop.example.com"], ["10.0.0.2:8080", "10.0.0.3:8080"]),
        (["api-shop.localhost", "shop.example.com"], ["10.0.0.2:8080"]),
    ]
    assert routes.upstreams("s1") == ["10.0.0.2:8080"]


async def test_replicas_published_on_their_node_are_routed_at_the_nodes_port() -> None:
    """A Swarm replica's address is its node's, on the port published for the service's port."""
    ingress = Ingress()
    routes = RouteTable(ingress=ingress)
    a = container("c1", ip="192.0.2.2", ports={8080: 32768})
    b = container("c2", replica=1, ip="198.18.77.2", ports={8080: 32768})
    c = container("c3", replica=2, ip="192.0.2.2", ports={8080: 32771})

    await routes.point(deployment(port=8080), [a, b, c])

    assert ingress.sent[0].upstreams == ["192.0.2.2:32768", "192.0.2.2:32771", "198.18.77.2:32768"]


async def test_held_out_replicas_are_not_routable_until_let_in() -> None:
    routes = RouteTable()
    a, b = container("c1"), container("c2", replica=1)
    routes.hold_out("c2")
    assert routes.routable([a, b]) == [a]
    assert routes.held_out == {"c2"}
    routes.let_in("c2")
    assert routes.routable([a, b]) == [a, b]
    assert routes.held_out == set()


async def test_a_removed_route_is_forgotten_and_sent_again_when_pointed() -> None:
    ingress = Ingress()
    routes = RouteTable(ingress=ingress)
    d = deployment(port=8080)
    await routes.point(d, [container("c1")])
    await routes.remove("s1")
    assert (ingress.removed, routes.upstreams("s1")) == (["s1"], None)
    await routes.point(d, [container("c1")])
    assert len(ingress.sent) == 2


async def test_without_an_ingress_or_a_port_nothing_is_routed() -> None:
    ingress = Ingress()
    await RouteTable(ingress=ingress).point(deployment(port=None), [container("c1")])
    without = RouteTable()
    await without.point(deployment(port=8080), [container("c1")])
    await without.remove("s1")
    assert (ingress.sent, without.enabled, without.upstreams("s1")) == ([], False, None)
