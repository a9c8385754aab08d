"""Container records: the reconciler's bookkeeping of what it started (actual state is always
rediscovered from Docker labels; these records are for the API and history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass
class ContainerRecord:
    id: str
    name: str
    project_id: str
    service_id: str
    deployment_id: str
    replica_index: int
    state: str = "created"
    exit_code: int | None = None
    restart_count: int = 0
    ip_address: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ContainerFilter:
    service_id: str | None = None
    deployment_id: str | None = None
    project_id: str | None = None


class ContainerService(Protocol):
    async def upsert_container(self, record: ContainerRecord) -> ContainerRecord:
        """Insert or update by Docker id. Raises ``not_found`` for an unknown service."""
        ...

    async def list_containers(self, filt: ContainerFilter) -> list[ContainerRecord]: ...

    async def delete_container(self, id: str) -> None:
        """Idempotent: an unknown id is not an error."""
        ...
