"""Staging from HTTP: the checks that depend on the daemon's settings, then the domain's
``StagingService``. The REST routes and the canvas WebSocket both stage through here; the store
tells the rooms (and the reconciler, on apply) through the event bus."""

from __future__ import annotations

from collections.abc import Mapping

from deploykit.errors import FieldErrors
from deploykit.pending_change import ChangeKind, PendingChange, PendingChangeCreate
from deploykit.repository import check_repo_url
from deploykit.service import GitSource
from deploykit.staging import ServiceStage, StagedService, StagingService
from deploykit_http.context import HTTPSettings


def check_source(settings: HTTPSettings, source: object) -> None:
    """Refuse a git source on the daemon's own host unless the operator allows those. Raises ``invalid``."""
    url = source.repo_url if isinstance(source, GitSource) else None
    if isinstance(source, Mapping) and source.get("type") == "git":
        url = source.get("repo_url")
    if isinstance(url, str):
        errors = FieldErrors()
        check_repo_url(url, allow_local=settings.allow_local_repos, errors=errors)
        errors.raise_if_any()


async def stage_service_create(staging: StagingService, settings: HTTPSettings, stage: ServiceStage) -> StagedService:
    """Stage ``service.create`` with its env vars. Raises ``invalid``, ``conflict``, ``not_found``."""
    stage.validate()
    check_source(settings, stage.config.source)
    return await staging.stage_service(stage)


async def stage(staging: StagingService, settings: HTTPSettings, create: PendingChangeCreate) -> PendingChange:
    """Stage one change. Raises ``invalid``, ``conflict``, ``not_found``."""
    if create.kind in (ChangeKind.SERVICE_CREATE, ChangeKind.SERVICE_UPDATE):
        check_source(settings, create.payload.get("source"))
    return await staging.append_pending_change(create)
