"""Staging edits: what both the REST routes and the canvas hub do to append a pending change and
tell the project's room about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deploykit.canvas import CanvasNode
from deploykit.envvar import EnvVarCreate, Scope
from deploykit.errors import NOT_FOUND, Error, FieldErrors, ValidationError
from deploykit.pending_change import ChangeKind, PendingChange, PendingChangeCreate
from deploykit.repository import check_repo_url
from deploykit.service import GitSource, ServiceConfig, ServiceCreate

if TYPE_CHECKING:
    from deploykit_http.context import Context


@dataclass(frozen=True)
class StagedService:
    change: PendingChange
    node: CanvasNode | None
    env_changes: list[PendingChange]

    @property
    def temp_id(self) -> str:
        assert self.change.target_temp_id is not None
        return self.change.target_temp_id


def service_create_payload(name: str, config: ServiceConfig, group_id: str | None) -> dict[str, Any]:
    return {"name": name, **config.to_dict(), "group_id": group_id}


def env_var_payload(scope: Scope, scope_id: str, key: str, value: str) -> dict[str, Any]:
    return {"scope": scope.value, "scope_id": scope_id, "key": key, "value": value}


def validate_env_map(env: Mapping[str, str], project_id: str) -> None:
    errors = FieldErrors()
    for key, value in env.items():
        try:
            EnvVarCreate(project_id=project_id, scope=Scope.SERVICE, scope_id="-", key=key, value=value).validate()
        except ValidationError as exc:
            errors.merge(FieldErrors(exc.fields), prefix=f"env_vars.{key}.")
    errors.raise_if_any()


def check_source(ctx: Context, source: object) -> None:
    """Refuse a git source on the daemon's own host unless the operator allows those. Raises ``invalid``."""
    url = source.repo_url if isinstance(source, GitSource) else None
    if isinstance(source, Mapping) and source.get("type") == "git":
        url = source.get("repo_url")
    if isinstance(url, str):
        errors = FieldErrors()
        check_repo_url(url, allow_local=ctx.settings.allow_local_repos, errors=errors)
        errors.raise_if_any()


async def stage_service_create(
    ctx: Context,
    project_id: str,
    user_id: str,
    *,
    name: str,
    config: ServiceConfig,
    group_id: str | None = None,
    position: tuple[float, float] | None = None,
    env: Mapping[str, str] | None = None,
) -> StagedService:
    """Stage ``service.create`` with its env vars; the store gives it a temp id and puts a canvas
    node under that id. Then tell the room. Raises ``invalid``, ``conflict``, ``not_found``."""
    ServiceCreate(project_id=project_id, name=name, config=config, group_id=group_id).validate()
    check_source(ctx, config.source)
    env = dict(env or {})
    validate_env_map(env, project_id)
    x, y = position if position is not None else (0.0, 0.0)
    payload = {**service_create_payload(name, config, group_id), "env_vars": env, "x": x, "y": y}
    change = await ctx.c.pending_changes.append_pending_change(
        PendingChangeCreate(project_id=project_id, kind=ChangeKind.SERVICE_CREATE, payload=payload, created_by=user_id)
    )
    node: CanvasNode | None = None
    if change.target_temp_id is not None:
        try:
            node = await ctx.c.canvas.get_node(project_id, change.target_temp_id)
        except Error as exc:
            if exc.code != NOT_FOUND:
                raise
    if node is not None:
        await ctx.hub.node_upserted(project_id, node)
    await ctx.hub.change_added(project_id, change)
    return StagedService(change=change, node=node, env_changes=[])


async def stage(ctx: Context, create: PendingChangeCreate) -> PendingChange:
    """Append one change and tell the room."""
    if create.kind in (ChangeKind.SERVICE_CREATE, ChangeKind.SERVICE_UPDATE):
        check_source(ctx, create.payload.get("source"))
    change = await ctx.c.pending_changes.append_pending_change(create)
    await ctx.hub.change_added(create.project_id, change)
    return change
