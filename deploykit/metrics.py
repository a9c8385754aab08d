"""Container metrics: CPU, memory and network samples of a service's running containers."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from deploykit.runtime import ContainerStats


class MetricsService(Protocol):
    async def service_samples(self, service_id: str, *, since: datetime | None = None) -> list[ContainerStats]:
        """The service's recent samples, oldest first: one per running container per sampling,
        those at or after ``since`` (a naive datetime is UTC). Raises ``unavailable`` when the
        runtime does not answer."""
        ...
