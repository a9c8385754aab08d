"""Staging edits: what both the REST routes and the canvas hub do to append a pending change and
tell the project's room about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from deploykit.errors import FieldErrors
from deploykit.pending_change import ChangeKind, PendingChange, PendingChangeCreate
from deploykit.repository import check_repo_url
from deploykit.service import GitSource
from deploykit.staging import ServiceStage, StagedService

if TYPE_CHECKING:
    from deploykit_http.context import Context


def check_source(ctx: Context, source: object) -> None:
    """Refuse a git source on the daemon's own host unless the operator allows those. Raises ``invalid``."""
    url = source.repo_url if isinstance(source, GitSource) else None
    if isinstance(source, Mapping) and source.get("type") == "git":
        url = source.get("repo_url")
    if isinstance(url, str):
        errors = FieldErrors()
        check_repo_url(url, allow_local=ctx.settings.allow_local_repos, errors=errors)
        errors.raise_if_any()


async def stage_service_create(ctx: Context, stage: ServiceStage) -> StagedService:
    """Stage ``service.create`` with its env vars, then tell the room about its node and change.
    Raises ``invalid``, ``conflict``, ``not_found``."""
    stage.validate()
    check_source(ctx, stage.config.source)
    staged = await ctx.c.pending_changes.stage_service(stage)
    if staged.node is not None:
        await ctx.hub.node_upserted(stage.project_id, staged.node)
    await ctx.hub.change_added(stage.project_id, staged.change)
    return staged


async def stage(ctx: Context, create: PendingChangeCreate) -> PendingChange:
    """Append one change and tell the room."""
    if create.kind in (ChangeKind.SERVICE_CREATE, ChangeKind.SERVICE_UPDATE):
        check_source(ctx, create.payload.get("source"))
    change = await ctx.c.pending_changes.append_pending_change(create)
    await ctx.hub.change_added(create.project_id, change)
    return change
