"""Health, system introspection (admins) and presets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from typing import Any

from deploykit.preset import PRESETS, get_preset
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.shapes.system import HealthOut, PresetList, PresetOut, SystemAboutOut, SystemStatusOut, preset_out


async def _probe(check: Awaitable[bool], limit_s: float = 2.0) -> bool:
    try:
        return bool(await asyncio.wait_for(check, limit_s))
    except Exception:
        return False


def endpoints(ctx: Context) -> list[Endpoint]:
    async def health(call: Call) -> Any:
        database = await _probe(ctx.c.ping_database())
        docker = await _probe(ctx.c.runtime.ping()) if ctx.c.runtime is not None else False
        ingress = await _probe(ctx.c.ping_ingress()) if ctx.c.ping_ingress is not None else False
        body = {
            "status": "ok" if database else "degraded",
            "version": ctx.settings.version,
            "services": {"database": database, "docker": docker, "ingress": ingress},
            "public_ports": {"http": ctx.settings.public_http_port, "https": ctx.settings.public_https_port},
        }
        return body

    async def about(call: Call) -> Any:
        return dataclasses.asdict(await ctx.system().about())

    async def status(call: Call) -> Any:
        return dataclasses.asdict(await ctx.system().status())

    async def list_presets(call: Call) -> Any:
        return {"data": [preset_out(p.render()) for p in PRESETS]}

    async def get_preset_route(call: Call) -> Any:
        return preset_out(get_preset(call.params["preset_id"]).render())

    return [
        Endpoint("GET", "/health", health, "Liveness and dependencies", "system", Access.PUBLIC, response=HealthOut),
        Endpoint(
            "GET",
            "/system/about",
            about,
            "Versions, Docker and database",
            "system",
            Access.ADMIN,
            response=SystemAboutOut,
            errors=(403, 503),
        ),
        Endpoint(
            "GET",
            "/system/status",
            status,
            "Host, Docker and ingress state",
            "system",
            Access.ADMIN,
            response=SystemStatusOut,
            errors=(403, 503),
        ),
        Endpoint("GET", "/presets/databases", list_presets, "Database templates", "presets", response=PresetList),
        Endpoint(
            "GET",
            "/presets/databases/{preset_id}",
            get_preset_route,
            "One database template",
            "presets",
            response=PresetOut,
            errors=(404,),
        ),
    ]
