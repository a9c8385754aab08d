"""System introspection: what the operator sees on the admin pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SystemAbout:
    version: str
    python: str
    docker: dict[str, Any] = field(default_factory=dict)
    database: dict[str, Any] = field(default_factory=dict)
    ingress: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemStatus:
    host: dict[str, Any] = field(default_factory=dict)
    docker: dict[str, Any] = field(default_factory=dict)
    ingress: dict[str, Any] = field(default_factory=dict)


class SystemService(Protocol):
    async def about(self) -> SystemAbout:
        """Best effort: an unreachable part reports ``reachable: false``; never raises."""
        ...

    async def status(self) -> SystemStatus:
        """Best effort: an unreachable part reports ``reachable: false``; never raises."""
        ...
