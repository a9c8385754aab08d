"""Projects: the unit that owns a Docker network, services, env vars and a canvas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from deploykit.errors import FieldErrors

MAX_PROJECT_NAME = 100


def validate_project_name(name: str, errors: FieldErrors, field_name: str = "name") -> None:
    if not name or not name.strip():
        errors.add(field_name, "must not be empty")
    elif len(name) > MAX_PROJECT_NAME:
        errors.add(field_name, f"must be at most {MAX_PROJECT_NAME} characters")
    elif any(ord(c) < 32 for c in name):
        errors.add(field_name, "must not contain control characters")


@dataclass
class Project:
    id: str
    name: str
    slug: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def network_name(self) -> str:
        return f"dk-{self.slug}"


@dataclass(frozen=True)
class ProjectCreate:
    name: str

    def validate(self) -> None:
        errors = FieldErrors()
        validate_project_name(self.name, errors)
        errors.raise_if_any()


@dataclass(frozen=True)
class ProjectUpdate:
    name: str | None = None

    def validate(self) -> None:
        errors = FieldErrors()
        if self.name is not None:
            validate_project_name(self.name, errors)
        errors.raise_if_any()


@dataclass(frozen=True)
class ProjectFilter:
    id: str | None = None
    search: str | None = None
    offset: int = 0
    limit: int = 20


class ProjectService(Protocol):
    async def get_project(self, id: str) -> Project:
        """Raises ``not_found``."""
        ...

    async def list_projects(self, filt: ProjectFilter) -> tuple[list[Project], int]:
        """Projects by name, and the total matching before offset/limit."""
        ...

    async def create_project(self, create: ProjectCreate) -> Project:
        """Raises ``invalid`` for a bad name."""
        ...

    async def update_project(self, id: str, upd: ProjectUpdate) -> Project:
        """Applies at once (the HTTP layer stages renames through pending changes).
        Raises ``not_found``, ``invalid``."""
        ...

    async def delete_project(self, id: str) -> None:
        """Deletes the project and everything it owns; publishes ``project.deleted`` so the
        reconciler removes its containers, network and volumes. Raises ``not_found``."""
        ...
