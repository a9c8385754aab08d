"""Domains and the ingress that routes them to ready replicas."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from deploykit.errors import FieldErrors

HOSTNAME_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class TLSStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    INTERNAL = "internal"
    FAILED = "failed"
    NONE = "none"


def normalize_hostname(hostname: str) -> str:
    return hostname.strip().lower().rstrip(".")


def validate_hostname(hostname: str, errors: FieldErrors, field_name: str = "hostname") -> None:
    """A fully qualified DNS name: at least two labels (``localhost`` names included), no
    wildcard, no port, no scheme."""
    name = normalize_hostname(hostname)
    labels = name.split(".")
    if not name or len(name) > 253:
        errors.add(field_name, "must be 1-253 characters")
    elif len(labels) < 2 or not all(HOSTNAME_LABEL_RE.match(label) for label in labels):
        errors.add(field_name, "must be a hostname such as 'app.example.com'")
    elif labels[-1].isdigit():
        errors.add(field_name, "must be a name, not an IP address")


def generated_hostname(service_slug: str, project_slug: str, base_domain: str) -> str:
    return f"{service_slug}-{project_slug}.{base_domain}"


@dataclass
class Domain:
    hostname: str
    project_id: str
    service_id: str
    is_generated: bool = False
    dns_ok: bool | None = None
    tls_status: TLSStatus = TLSStatus.PENDING
    created_at: datetime | None = None


@dataclass(frozen=True)
class Route:
    """Where one service's traffic goes: its hostnames to its ready upstreams (``host:port``)."""

    service_id: str
    hostnames: list[str]
    upstreams: list[str] = field(default_factory=list)


class DomainService(Protocol):
    async def list_domains(self, service_id: str) -> list[Domain]:
        """Generated first, then custom by name. Raises ``not_found``."""
        ...

    async def list_all_domains(self) -> list[Domain]: ...

    async def add_domain(self, service_id: str, hostname: str, *, generated: bool = False) -> Domain:
        """Publishes ``domain.added`` (the reconciler routes it). Raises ``invalid`` (bad hostname),
        ``conflict`` (used by any service), ``not_found``."""
        ...

    async def delete_domain(self, service_id: str, hostname: str) -> None:
        """Publishes ``domain.removed``. Raises ``not_found``, ``invalid`` (the generated domain
        cannot be removed)."""
        ...

    async def update_domain_status(self, hostname: str, *, dns_ok: bool | None, tls_status: TLSStatus) -> Domain:
        """Raises ``not_found``."""
        ...


class Ingress(Protocol):
    async def ping(self) -> bool:
        """Whether the proxy's admin API answers. Never raises."""
        ...

    async def sync_routes(self, routes: list[Route]) -> None:
        """Make the proxy route exactly ``routes`` (one admin change). Raises ``unavailable``."""
        ...

    async def set_route(self, route: Route) -> None:
        """Create or replace one service's route in one admin change, so traffic switches from
        the old upstreams to the new ones atomically. Raises ``unavailable``."""
        ...

    async def remove_route(self, service_id: str) -> None:
        """Idempotent. Raises ``unavailable``."""
        ...


@dataclass(frozen=True)
class DomainCheck:
    """A domain's live status: does DNS point at this host, and what TLS answers for it."""

    hostname: str
    dns_ok: bool | None
    """None when it cannot be told (no public address configured, resolver timed out)."""
    tls_status: TLSStatus
    error: str | None = None


class DomainChecker(Protocol):
    async def check_domain(self, hostname: str) -> DomainCheck:
        """Resolve ``hostname`` and probe its TLS. Never raises."""
        ...
