"""``RouteTable``: the one owner of the services' routes.

It remembers what was last sent to the ingress for each service (upstreams and hostnames) and
which replicas the health monitor holds out of routes. The converger points routes through it,
the health monitor holds replicas out and lets them back in through it, and every resync
compares the store with it; nobody else keeps a copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass

from deploykit.deployment import Deployment
from deploykit.ingress import DomainService, Ingress, Route
from deploykit.runtime import ContainerState


@dataclass(frozen=True)
class _Sent:
    upstreams: list[str]
    hostnames: list[str]


class RouteTable:
    def __init__(self, *, ingress: Ingress | None = None, domains: DomainService | None = None) -> None:
        self._ingress = ingress
        self._domains = domains
        self._sent: dict[str, _Sent] = {}
        self._held_out: set[str] = set()

    @property
    def enabled(self) -> bool:
        """Whether there is an ingress to route through at all."""
        return self._ingress is not None

    def upstreams(self, service_id: str) -> list[str] | None:
        """The upstreams last sent for the service (None: no route sent since the start)."""
        sent = self._sent.get(service_id)
        return sent.upstreams if sent is not None else None

    # -- replicas held out by the health monitor --------------------------------------------------

    @property
    def held_out(self) -> Set[str]:
        """Containers kept out of routes until they pass their health check again."""
        return self._held_out

    def hold_out(self, container_id: str) -> None:
        self._held_out.add(container_id)

    def let_in(self, container_id: str) -> None:
        """The replica passed its checks again, or is gone: it is no longer held out."""
        self._held_out.discard(container_id)

    def routable(self, containers: Iterable[ContainerState]) -> list[ContainerState]:
        """Those of ``containers`` that are not held out."""
        return [x for x in containers if x.id not in self._held_out]

    # -- the ingress ------------------------------------------------------------------------------

    async def point(self, deployment: Deployment, ready: Iterable[ContainerState]) -> None:
        """Point the route of the deployment's service at ``ready`` in one admin change (before
        old replicas stop); nothing is sent when neither the upstreams nor the hostnames changed."""
        service_id = deployment.service_id
        port = deployment.config.port
        if self._ingress is None or port is None:
            return
        upstreams = sorted(e for x in ready if (e := x.endpoint(port)))
        hostnames: list[str] = []
        if self._domains is not None:
            hostnames = [d.hostname for d in await self._domains.list_domains(service_id)]
        # A domain added or removed changes the route as much as new upstreams do.
        wanted = _Sent(upstreams, hostnames)
        if self._sent.get(service_id) == wanted:
            return
        await self._ingress.set_route(Route(service_id=service_id, hostnames=hostnames, upstreams=upstreams))
        self._sent[service_id] = wanted

    async def remove(self, service_id: str) -> None:
        """The service is gone: its route goes."""
        if self._ingress is not None:
            await self._ingress.remove_route(service_id)
        self._sent.pop(service_id, None)
