"""``DockerInventory``: the domain's EngineInventory on a Docker engine.

One ``system/df`` call gives every container (with its writable layer's size), image and volume
(with the size of its data) and the build cache; networks come from one list. Owners are read
from labels only; DeployKit's built images, which have none, by their name.

Under ``--runtime swarm`` two kinds of DeployKit's objects carry ``deploykit.runtime`` instead of
``managed-by`` (so that a plain Docker runtime on the same engine never adopts them): Swarm task
containers (``swarm``) and the projects' edge bridges ``dk-{slug}_edge`` that earlier versions made (``edge``). They are
DeployKit's all the same, with the owner their other labels name; a task container's detail names
its Swarm service. On a swarm manager the Swarm services are listed too (``GET /services``),
DeployKit's by their ``managed-by`` label as everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deploykit.engine import EngineInventory, EngineObject, EngineObjectKind, EngineUsage, PruneRequest, PruneResult
from deploykit.runtime import (
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_PROJECT_ID,
    LABEL_SERVICE_ID,
    MANAGED_BY,
    built_image,
)
from deploykit_docker.runtime import DockerRuntime

BUILTIN_NETWORKS = frozenset({"bridge", "host", "none"})
LABEL_RUNTIME = "deploykit.runtime"
"""``swarm`` on Swarm task containers, ``edge`` on edge bridges (``deploykit_swarm``)."""
SWARM_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_NODE = "deploykit.node"
"""On a Swarm service pinned to one node (it mounts node-local volumes): that node's id."""


def managed(kind: EngineObjectKind, name: str, labels: dict[str, str]) -> bool:
    """DeployKit's: its ``managed-by`` label, a Swarm task container or edge bridge of its swarm
    runtime, or (built images carry no label) a built image's name."""
    if labels.get(LABEL_MANAGED_BY) == MANAGED_BY:
        return True
    if kind is EngineObjectKind.CONTAINER:
        return labels.get(LABEL_RUNTIME) == "swarm" and SWARM_SERVICE_NAME in labels
    if kind is EngineObjectKind.NETWORK:
        return labels.get(LABEL_RUNTIME) == "edge"
    return kind is EngineObjectKind.IMAGE and built_image(name)


def _owned(
    kind: EngineObjectKind, id: str, name: str, size: int | None, labels: dict[str, str], detail: str
) -> EngineObject:
    ours = managed(kind, name, labels)
    return EngineObject(
        kind=kind,
        id=id,
        name=name,
        size_bytes=size if size is None or size >= 0 else None,  # the engine says -1 for "unknown"
        managed=ours,
        project_id=labels.get(LABEL_PROJECT_ID) if ours else None,
        service_id=labels.get(LABEL_SERVICE_ID) if ours else None,
        detail=detail,
        labels=labels,
    )


def objects_from_df(
    df: dict[str, Any], networks: list[dict[str, Any]], services: Sequence[dict[str, Any]] = ()
) -> list[EngineObject]:
    """Containers, images, volumes (``GET /system/df``), networks (``GET /networks``) and Swarm
    services (``GET /services``)."""
    out: list[EngineObject] = []
    for c in df.get("Containers") or []:
        names = [str(n).lstrip("/") for n in c.get("Names") or []]
        labels = dict(c.get("Labels") or {})
        state = str(c.get("State") or "")
        service = labels.get(SWARM_SERVICE_NAME)
        out.append(
            _owned(
                EngineObjectKind.CONTAINER,
                str(c["Id"]),
                names[0] if names else str(c["Id"])[:12],
                int(c.get("SizeRw") or 0),
                labels,
                f"{state}, task of Swarm service {service}" if service else state,
            )
        )
    for i in df.get("Images") or []:
        tags = [t for t in i.get("RepoTags") or [] if t != "<none>:<none>"]
        out.append(
            _owned(
                EngineObjectKind.IMAGE,
                str(i["Id"]),
                tags[0] if tags else "<none>",
                int(i.get("Size") or 0),
                dict(i.get("Labels") or {}),
                ", ".join(tags[1:]),
            )
        )
    for v in df.get("Volumes") or []:
        usage = v.get("UsageData") or {}
        out.append(
            _owned(
                EngineObjectKind.VOLUME,
                str(v["Name"]),
                str(v["Name"]),
                int(usage["Size"]) if "Size" in usage else None,
                dict(v.get("Labels") or {}),
                f"{usage.get('RefCount', 0)} container(s)" if "RefCount" in usage else "",
            )
        )
    for n in networks:
        if n.get("Name") in BUILTIN_NETWORKS:
            continue
        out.append(
            _owned(
                EngineObjectKind.NETWORK,
                str(n["Id"]),
                str(n["Name"]),
                None,
                dict(n.get("Labels") or {}),
                f"{n.get('Driver') or ''}, swarm scope" if n.get("Scope") == "swarm" else str(n.get("Driver") or ""),
            )
        )
    for sv in services:
        spec = sv.get("Spec") or {}
        labels = dict(spec.get("Labels") or {})
        replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        detail = f"{replicas} replica(s)" if replicas is not None else "global"
        if labels.get(LABEL_NODE):
            detail += f", pinned to node {labels[LABEL_NODE][:12]}"
        out.append(
            _owned(EngineObjectKind.SERVICE, str(sv["ID"]), str(spec.get("Name") or sv["ID"]), None, labels, detail)
        )
    order = list(EngineObjectKind)
    return sorted(out, key=lambda o: (order.index(o.kind), not o.managed, o.name))


class DockerInventory(EngineInventory):
    """Reads and prunes through an open ``DockerRuntime``. With ``instance_id``, dangling images
    are pruned only when they carry that installation's label (several daemons share the engine);
    the build cache has no labels and is pruned engine-wide (only entries no build uses)."""

    def __init__(self, runtime: DockerRuntime, *, instance_id: str | None = None) -> None:
        self._runtime = runtime
        self._instance_id = instance_id

    async def engine_usage(self) -> EngineUsage:
        df = await self._runtime.disk_usage()
        objects = objects_from_df(df, await self._runtime.all_networks(), await self._runtime.swarm_services())
        dangling = [o for o in objects if o.kind is EngineObjectKind.IMAGE and o.name == "<none>"]
        cache = sum(int(b.get("Size") or 0) for b in df.get("BuildCache") or [] if not b.get("InUse"))
        return EngineUsage(
            objects=objects,
            build_cache_bytes=cache,
            dangling_images=len(dangling),
            dangling_bytes=sum(o.size_bytes or 0 for o in dangling),
        )

    async def prune_engine(self, req: PruneRequest) -> PruneResult:
        req.validate()
        images = cache = reclaimed = 0
        if req.dangling_images:
            labels = {LABEL_INSTANCE: self._instance_id} if self._instance_id else {}
            images, freed = await self._runtime.prune_images(labels)
            reclaimed += freed
        if req.build_cache:
            cache, freed = await self._runtime.prune_build_cache()
            reclaimed += freed
        return PruneResult(images_deleted=images, build_cache_deleted=cache, reclaimed_bytes=reclaimed)
