"""The container engine's housekeeping (admins only): every container, image, volume and network
with its size and owner, and pruning dangling images and the build cache."""

from __future__ import annotations

from typing import Any

from deploykit.engine import EngineInventory, PruneRequest
from deploykit.errors import NOT_FOUND, Error
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.shapes.engine import EngineUsageOut, Names, PruneOut, engine_usage_out, prune_out


class PruneBody(m.Model):
    dangling_images: bool = True
    build_cache: bool = True


def endpoints(ctx: Context) -> list[Endpoint]:
    def inventory() -> EngineInventory:
        if ctx.c.engine is None:
            raise unavailable("The Docker engine")
        return ctx.c.engine

    async def names(ids: set[str], lookup: Any) -> Names:
        """Display names of the owners the labels point at; None for one this daemon does not know."""
        out: Names = {}
        for id in sorted(ids):
            try:
                out[id] = (await lookup(id)).name
            except Error as err:
                if err.code != NOT_FOUND:
                    raise
                out[id] = None
        return out

    async def engine_usage(call: Call) -> Any:
        usage = await inventory().engine_usage()
        projects = await names({o.project_id for o in usage.objects if o.project_id}, ctx.c.projects.get_project)
        known = {o.service_id for o in usage.objects if o.service_id and projects.get(o.project_id or "")}
        services = await names(known, ctx.c.services.get_service)
        return engine_usage_out(usage, projects, services)

    async def prune(call: Call) -> Any:
        body: PruneBody = call.body
        return prune_out(await inventory().prune_engine(PruneRequest(**body.model_dump())))

    return [
        Endpoint(
            "GET",
            "/system/engine",
            engine_usage,
            "Containers, images, volumes and networks on the engine, with size and owner",
            "system",
            Access.ADMIN,
            response=EngineUsageOut,
            errors=(403, 503),
        ),
        Endpoint(
            "POST",
            "/system/engine/prune",
            prune,
            "Remove dangling images and unused build cache",
            "system",
            Access.ADMIN,
            body=PruneBody,
            body_required=False,
            response=PruneOut,
            errors=(403, 422, 503),
        ),
    ]
