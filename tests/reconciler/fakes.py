"""Small fakes for the reconciler's collaborators (a callable field per method; unset ones raise)
and a clock that tests move by hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deploykit.deployment import Deployment, DeploymentStatus
from deploykit.health import HealthCheck, HealthResult
from deploykit.runtime import ContainerState, container_labels
from deploykit.service import ImageSource, ServiceConfig


def unset(name: str) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected call: {name}")

    return call


@dataclass
class ManualClock:
    """``monotonic`` advances only when told, or by ``step`` on every ``monotonic()`` call."""

    t: float = 1000.0
    step: float = 0.0
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1000.0)

    def monotonic(self) -> float:
        self.t += self.step
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeRuntime:
    inspect_container_fn: Callable[[str], Awaitable[ContainerState]] = field(default_factory=lambda: unset("inspect"))

    async def inspect_container(self, id: str) -> ContainerState:
        return await self.inspect_container_fn(id)


@dataclass
class FakeProbe:
    probe_fn: Callable[[str, int, HealthCheck], Awaitable[HealthResult]] = field(default_factory=lambda: unset("probe"))

    async def probe(self, address: str, port: int, check: HealthCheck) -> HealthResult:
        return await self.probe_fn(address, port, check)


@dataclass
class FakeDeployments:
    get_deployment_fn: Callable[[str], Awaitable[Deployment]] = field(default_factory=lambda: unset("get_deployment"))

    async def get_deployment(self, id: str) -> Deployment:
        return await self.get_deployment_fn(id)


def deployment(
    id: str = "d1",
    *,
    status: DeploymentStatus = DeploymentStatus.STARTING,
    replicas: int = 1,
    port: int | None = 8080,
    check: HealthCheck | None = None,
) -> Deployment:
    config = ServiceConfig(source=ImageSource("img:1"), port=port, replicas=replicas, health_check=check)
    return Deployment(id=id, service_id="s1", project_id="p1", status=status, config=config, image="img:1")


def container(
    id: str = "c1",
    *,
    deployment_id: str = "d1",
    replica: int = 0,
    state: str = "running",
    ip: str | None = "10.0.0.2",
    restarts: int = 0,
    exit_code: int | None = None,
    started_at: datetime | None = None,
    ports: dict[int, int] | None = None,
) -> ContainerState:
    return ContainerState(
        id=id,
        name=f"dk-p-s-{replica}-{deployment_id}",
        labels=container_labels("p1", "s1", deployment_id, replica),
        state=state,
        ip_address=ip,
        restart_count=restarts,
        exit_code=exit_code,
        started_at=started_at,
        ports=dict(ports or {}),
    )
