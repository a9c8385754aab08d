"""Environment variables: scoped project < group < service, with ``${{name.HOST}}``,
``${{name.PORT}}`` and ``${{name.VAR}}`` references to other services of the same project
(``deploykit.env_reference``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from deploykit.env_reference import (
    REFERENCE_RE,
    ResolvedEnv,
    ServiceAddress,
    find_references,
    overlay,
    rename_references,
    resolve_env,
)
from deploykit.errors import FieldErrors

__all__ = [
    "REFERENCE_RE",
    "ResolvedEnv",
    "ServiceAddress",
    "find_references",
    "overlay",
    "rename_references",
    "resolve_env",
]

ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_KEY = 255
MAX_VALUE = 32 * 1024


class Scope(StrEnum):
    PROJECT = "project"
    GROUP = "group"
    SERVICE = "service"


def validate_env_key(key: str, errors: FieldErrors, field_name: str = "key") -> None:
    if not key:
        errors.add(field_name, "must not be empty")
    elif len(key) > MAX_KEY:
        errors.add(field_name, f"must be at most {MAX_KEY} characters")
    elif not ENV_KEY_RE.match(key):
        errors.add(field_name, "must start with a letter or '_' and use only letters, digits and '_'")


def validate_env_value(value: str, errors: FieldErrors, field_name: str = "value") -> None:
    if len(value.encode()) > MAX_VALUE:
        errors.add(field_name, f"must be at most {MAX_VALUE} bytes")
    elif "\x00" in value:
        errors.add(field_name, "must not contain NUL bytes")


@dataclass
class EnvVar:
    id: str
    project_id: str
    scope: Scope
    scope_id: str
    key: str
    value: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class EnvVarCreate:
    project_id: str
    scope: Scope
    scope_id: str
    key: str
    value: str

    def validate(self) -> None:
        errors = FieldErrors()
        validate_env_key(self.key, errors)
        validate_env_value(self.value, errors)
        errors.raise_if_any()


@dataclass(frozen=True)
class EnvVarUpdate:
    value: str

    def validate(self) -> None:
        errors = FieldErrors()
        validate_env_value(self.value, errors)
        errors.raise_if_any()


@dataclass(frozen=True)
class EnvVarFilter:
    project_id: str | None = None
    scope: Scope | None = None
    scope_id: str | None = None


class EnvVarService(Protocol):
    """Applied env vars. Writes from users are staged through pending changes."""

    async def get_env_var(self, id: str) -> EnvVar:
        """Raises ``not_found``."""
        ...

    async def list_env_vars(self, filt: EnvVarFilter) -> list[EnvVar]:
        """Ordered by scope then key; values decrypted."""
        ...

    async def resolve_service_env(self, service_id: str) -> ResolvedEnv:
        """The env a new deployment of the service would get now. Raises ``not_found``."""
        ...
