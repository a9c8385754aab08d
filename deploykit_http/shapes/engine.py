"""The container engine's housekeeping (admins): its objects with size and owner, and pruning."""

from __future__ import annotations

from typing_extensions import TypedDict

from deploykit.engine import EngineObject, EngineObjectKind, EngineUsage, PruneResult


class EngineOwnerOut(TypedDict):
    project_id: str
    project_name: str | None
    """None: the project is not in this daemon's database (another installation's, or deleted)."""
    service_id: str | None
    service_name: str | None


class EngineObjectOut(TypedDict):
    kind: EngineObjectKind
    id: str
    name: str
    size_bytes: int | None
    managed: bool
    """Carries DeployKit's ``managed-by`` label; unmanaged objects have no owner."""
    owner: EngineOwnerOut | None
    detail: str


class EngineUsageOut(TypedDict):
    data: list[EngineObjectOut]
    build_cache_bytes: int
    dangling_images: int
    dangling_bytes: int


class PruneOut(TypedDict):
    images_deleted: int
    build_cache_deleted: int
    reclaimed_bytes: int


Names = dict[str, str | None]


def engine_object_out(o: EngineObject, projects: Names, services: Names) -> EngineObjectOut:
    owner: EngineOwnerOut | None = None
    if o.project_id is not None:
        owner = {
            "project_id": o.project_id,
            "project_name": projects.get(o.project_id),
            "service_id": o.service_id,
            "service_name": services.get(o.service_id) if o.service_id else None,
        }
    return {
        "kind": o.kind,
        "id": o.id,
        "name": o.name,
        "size_bytes": o.size_bytes,
        "managed": o.managed,
        "owner": owner,
        "detail": o.detail,
    }


def engine_usage_out(u: EngineUsage, projects: Names, services: Names) -> EngineUsageOut:
    return {
        "data": [engine_object_out(o, projects, services) for o in u.objects],
        "build_cache_bytes": u.build_cache_bytes,
        "dangling_images": u.dangling_images,
        "dangling_bytes": u.dangling_bytes,
    }


def prune_out(r: PruneResult) -> PruneOut:
    return {
        "images_deleted": r.images_deleted,
        "build_cache_deleted": r.build_cache_deleted,
        "reclaimed_bytes": r.reclaimed_bytes,
    }
