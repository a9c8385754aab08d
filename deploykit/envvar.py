"""Environment variables: scoped project < group < service, with ``${{name.HOST}}`` and
``${{name.PORT}}`` references to other services of the same project."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from deploykit.errors import FieldErrors

ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_KEY = 255
MAX_VALUE = 32 * 1024
REFERENCE_RE = re.compile(r"\$\{\{\s*([A-Za-z][A-Za-z0-9_-]*)\.(HOST|PORT)\s*\}\}")


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


@dataclass(frozen=True)
class ServiceAddress:
    """How other services reach a service: its network alias and port."""

    host: str
    port: int | None


@dataclass(frozen=True)
class ResolvedEnv:
    values: dict[str, str]
    references: dict[str, frozenset[str]] = field(default_factory=dict)
    """For each key, the service names its value referred to (resolved or not)."""


def find_references(value: str) -> list[tuple[str, str]]:
    """The ``(service_name, HOST|PORT)`` pairs referenced in ``value``, in order."""
    return [(m.group(1), m.group(2)) for m in REFERENCE_RE.finditer(value)]


def overlay(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win: ``overlay(project, group, service)``."""
    out: dict[str, str] = {}
    for layer in layers:
        out.update(layer)
    return out


def resolve_env(
    project_vars: Mapping[str, str],
    group_vars: Mapping[str, str],
    service_vars: Mapping[str, str],
    addresses: Mapping[str, ServiceAddress],
) -> ResolvedEnv:
    """Overlay the scopes, then substitute references to services in ``addresses`` (keyed by
    service name). A reference to an unknown service, or to the port of a service without one,
    is left literal so that the user can see what did not resolve."""
    merged = overlay(project_vars, group_vars, service_vars)
    values: dict[str, str] = {}
    references: dict[str, frozenset[str]] = {}
    for key, value in merged.items():
        names: set[str] = set()

        def substitute(match: re.Match[str], names: set[str] = names) -> str:
            name, attr = match.group(1), match.group(2)
            names.add(name)
            address = addresses.get(name)
            if address is None:
                return match.group(0)
            if attr == "HOST":
                return address.host
            return str(address.port) if address.port is not None else match.group(0)

        values[key] = REFERENCE_RE.sub(substitute, value)
        if names:
            references[key] = frozenset(names)
    return ResolvedEnv(values=values, references=references)


def rename_references(value: str, old: str, new: str) -> str:
    """Rewrite ``${{old.HOST}}``/``${{old.PORT}}`` to refer to ``new`` (a service rename)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(1) != old:
            return match.group(0)
        return "${{" + new + "." + match.group(2) + "}}"

    return REFERENCE_RE.sub(sub, value)


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
