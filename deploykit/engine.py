"""Housekeeping of the container engine: what is on it, who owns it, how much room it takes,
and pruning what nobody needs (dangling images, build cache).

Ownership comes from labels only (``deploykit.project-id``, ``deploykit.service-id``), never from
names: an object without DeployKit's ``managed-by`` label is unmanaged, whatever it is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from deploykit.errors import ValidationError


class EngineObjectKind(StrEnum):
    CONTAINER = "container"
    IMAGE = "image"
    VOLUME = "volume"
    NETWORK = "network"
    SERVICE = "service"
    """A Swarm service (the engine is a swarm manager): under ``--runtime swarm`` one per replica."""


@dataclass(frozen=True)
class EngineObject:
    kind: EngineObjectKind
    id: str
    name: str
    """A container's, volume's, network's or Swarm service's name; an image's first tag (``<none>``
    when dangling)."""
    size_bytes: int | None
    """Containers: their writable layer; images: the whole image (layers shared with others
    included); volumes: the data in them (None when the engine cannot tell); networks, services: None."""
    managed: bool
    """Carries DeployKit's ``managed-by`` label."""
    project_id: str | None = None
    service_id: str | None = None
    detail: str = ""
    """A container's state, an image's other tags, a network's driver, a service's replicas."""
    labels: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class EngineUsage:
    objects: list[EngineObject]
    build_cache_bytes: int
    """Room the builder's cache takes."""
    dangling_images: int
    dangling_bytes: int


@dataclass(frozen=True)
class PruneRequest:
    dangling_images: bool = True
    build_cache: bool = True

    def validate(self) -> None:
        if not (self.dangling_images or self.build_cache):
            raise ValidationError({"dangling_images": ["choose at least one of dangling_images and build_cache"]})


@dataclass(frozen=True)
class PruneResult:
    images_deleted: int
    build_cache_deleted: int
    reclaimed_bytes: int


class EngineInventory(Protocol):
    async def engine_usage(self) -> EngineUsage:
        """Every container, image, volume and network on the engine, and every Swarm service when
        it is a swarm manager, with size and owner. Raises ``unavailable``."""
        ...

    async def prune_engine(self, req: PruneRequest) -> PruneResult:
        """Remove dangling images (only this installation's, when it has an instance id) and
        unused build cache. Raises ``invalid`` (nothing chosen), ``unavailable``."""
        ...
