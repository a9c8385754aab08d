"""Staged changes and env vars over the API: ``PendingChangeService`` and ``EnvVarService``.

The API stages a change through the route of what it changes (``PATCH`` a service, ``POST`` an
env var...), so appending a pending change here picks that route by the change's kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deploykit.env_edit import EnvEdit, EnvEditResult
from deploykit.envvar import EnvVar, EnvVarFilter, ResolvedEnv, Scope
from deploykit.errors import INVALID, NOT_FOUND, Error
from deploykit.pending_change import ApplyResult, ChangeKind, PendingChange, PendingChangeCreate
from deploykit.staged_diff import ScopeDiff
from deploykit.staging import ServiceStage, ServiceTarget, StagedService, staged_creation
from deploykit_http.client import decode
from deploykit_http.client.transport import Transport, not_offered

SERVICE_BODY_SKIP = frozenset({"env_vars", "x", "y"})


class EnvVarClient:
    """``deploykit.envvar.EnvVarService`` over the API (applied vars; writes are staged through
    ``PendingChangeClient``)."""

    def __init__(self, t: Transport) -> None:
        self.t = t
        self.paths: dict[str, str] = {}
        """env var id -> its route, for every var this client has listed."""

    def scope_path(self, project_id: str, scope: Scope, scope_id: str) -> str:
        base = f"/projects/{project_id}"
        if scope == Scope.PROJECT:
            return base + "/env-vars"
        if scope == Scope.GROUP:
            return f"{base}/groups/{scope_id}/env-vars"
        return f"{base}/services/{scope_id}/env-vars"

    async def _list(self, project_id: str, scope: Scope, scope_id: str) -> list[EnvVar]:
        path = self.scope_path(project_id, scope, scope_id)
        found = [decode.env_var(v, project_id) for v in (await self.t.request("GET", path))["data"]]
        for var in found:
            self.paths[var.id] = f"{path}/{var.id}"
        return found

    async def list_env_vars(self, filt: EnvVarFilter) -> list[EnvVar]:
        """Needs ``project_id``; a group's vars need the group's ``scope_id`` too (the API lists
        no groups)."""
        if filt.project_id is None:
            raise Error(INVALID, "Listing env vars over the API needs a project_id.")
        project_id = filt.project_id
        if filt.scope is not None and filt.scope_id is not None:
            return await self._list(project_id, filt.scope, filt.scope_id)
        if filt.scope == Scope.GROUP:
            raise Error(INVALID, "Listing a group's env vars needs the group's id.")
        found: list[EnvVar] = []
        if filt.scope in (None, Scope.PROJECT):
            found += await self._list(project_id, Scope.PROJECT, project_id)
        if filt.scope in (None, Scope.SERVICE):
            async for svc in self.t.pages(f"/projects/{project_id}/services"):
                self.t.service_projects[svc["id"]] = project_id
                found += await self._list(project_id, Scope.SERVICE, svc["id"])
        return found

    async def path_of(self, id: str, project_id: str) -> str:
        """The route of an env var of the project: remembered, else found by listing the
        project's and its services' vars. Raises ``not_found``."""
        if id not in self.paths:
            await self.list_env_vars(EnvVarFilter(project_id=project_id))
        try:
            return self.paths[id]
        except KeyError:
            raise Error(NOT_FOUND, "Env var not found.") from None

    async def get_env_var(self, id: str) -> EnvVar:
        if id not in self.paths:
            await self.t.learn_services()
            for project_id in set(self.t.service_projects.values()):
                await self.list_env_vars(EnvVarFilter(project_id=project_id))
        if id not in self.paths:
            raise Error(NOT_FOUND, "Env var not found.")
        path = self.paths[id]
        return decode.env_var(await self.t.request("GET", path), path.split("/")[2])

    async def resolve_service_env(self, service_id: str) -> ResolvedEnv:
        raise not_offered("Resolving a service's env ahead of a deployment")


class PendingChangeClient:
    """``deploykit.staging.StagingService`` (a ``PendingChangeService``) over the API."""

    def __init__(self, t: Transport, env_vars: EnvVarClient) -> None:
        self.t = t
        self.env_vars = env_vars

    async def list_pending_changes(self, project_id: str) -> list[PendingChange]:
        body = await self.t.request("GET", f"/projects/{project_id}/pending-changes")
        return [decode.pending_change(c) for c in body["data"]]

    async def append_pending_change(self, create: PendingChangeCreate) -> PendingChange:
        """Stage through the route the change's kind belongs to. A ``service.create`` gets its
        temp id from the daemon; its ``env_vars`` are staged on that id after it. ``created_by`` is
        whoever the token belongs to. Raises ``invalid``, ``not_found``, ``conflict``."""
        p = create.payload
        project = f"/projects/{create.project_id}"
        service = f"{project}/services/{create.target_id or create.target_temp_id}"
        kind = create.kind
        body: Any
        if kind == ChangeKind.SERVICE_CREATE:
            return await self._create_service(create.project_id, p)
        if kind == ChangeKind.SERVICE_UPDATE:
            body = await self.t.request("PATCH", service, json=p)
        elif kind == ChangeKind.SERVICE_DELETE:
            body = await self.t.request("DELETE", service)
        elif kind == ChangeKind.PROJECT_UPDATE:
            body = await self.t.request("PATCH", project, json={"name": p.get("name")})
        elif kind == ChangeKind.ENV_VAR_CREATE:
            scope = Scope(p.get("scope", Scope.PROJECT))
            scope_id = create.target_temp_id or str(p.get("scope_id") or create.project_id)
            path = self.env_vars.scope_path(create.project_id, scope, scope_id)
            body = await self.t.request("POST", path, json={"key": p.get("key"), "value": p.get("value")})
        elif kind in (ChangeKind.ENV_VAR_UPDATE, ChangeKind.ENV_VAR_DELETE):
            if create.target_id is None:
                raise Error(INVALID, "target_id: is required")
            path = await self.env_vars.path_of(create.target_id, create.project_id)
            if kind == ChangeKind.ENV_VAR_UPDATE:
                body = await self.t.request("PATCH", path, json={"value": p.get("value")})
            else:
                body = await self.t.request("DELETE", path)
        else:
            raise not_offered(f"Staging '{kind.value}' outside the canvas")
        return decode.pending_change(body)

    async def _create_service(self, project_id: str, p: dict[str, Any]) -> PendingChange:
        project = f"/projects/{project_id}"
        body = {k: v for k, v in p.items() if k not in SERVICE_BODY_SKIP}
        if "x" in p or "y" in p:
            body.update(position_x=p.get("x"), position_y=p.get("y"))
        change = decode.pending_change(await self.t.request("POST", project + "/services", json=body))
        for key, value in dict(p.get("env_vars") or {}).items():
            path = f"{project}/services/{change.target_temp_id}/env-vars"
            await self.t.request("POST", path, json={"key": key, "value": value})
        return change

    async def stage_service(self, stage: ServiceStage) -> StagedService:
        """Stage ``service.create`` and its env vars. The API does not return the canvas node:
        ``node`` is None. Raises ``invalid``, ``conflict``, ``not_found``."""
        return StagedService(change=await self._create_service(stage.project_id, stage.change().payload), node=None)

    async def stage_services(
        self, stages: Sequence[ServiceStage], edges: Sequence[tuple[int, int]] = ()
    ) -> list[StagedService]:
        """The API stages several services at once only from a compose file (``POST .../compose``)."""
        raise not_offered("Staging several services at once")

    async def get_service_target(self, project_id: str, service_id: str) -> ServiceTarget:
        """An applied service of the project, or one staged for creation under that temp id."""
        try:
            svc = decode.service(await self.t.request("GET", f"/projects/{project_id}/services/{service_id}"))
        except Error as exc:
            if exc.code != NOT_FOUND:
                raise
        else:
            self.t.service_projects[svc.id] = project_id
            return ServiceTarget(project_id, svc.id, None, svc.name, svc.config)
        staged = staged_creation(await self.list_pending_changes(project_id), service_id)
        if staged is None:
            raise Error(NOT_FOUND, "Service not found.")
        return ServiceTarget.staged(staged)

    async def stage_env_edit(self, edit: EnvEdit, *, dry_run: bool = False) -> EnvEditResult:
        path = self.env_vars.scope_path(edit.project_id, edit.scope, edit.scope_id) + "/edit"
        body = {"values": dict(edit.values), "unset": list(edit.unset), "replace": edit.replace, "dry_run": dry_run}
        return decode.env_edit_result(await self.t.request("POST", path, json=body))

    async def diff_pending_changes(self, project_id: str) -> list[ScopeDiff]:
        body = await self.t.request("GET", f"/projects/{project_id}/pending-changes/diff")
        return [decode.scope_diff(d) for d in body["data"]]

    async def discard_pending_changes(self, project_id: str, id: str | None = None) -> list[str]:
        path = f"/projects/{project_id}/pending-changes" + (f"/{id}" if id is not None else "")
        return [str(x) for x in (await self.t.request("DELETE", path))["removed"]]

    async def apply_pending_changes(
        self, project_id: str, user_id: str | None, actor: str | None = None
    ) -> ApplyResult:
        """``user_id`` and ``actor`` are whoever the token belongs to."""
        result = decode.apply_result(await self.t.request("POST", f"/projects/{project_id}/deploy"))
        for service_id in result.temp_id_to_service_id.values():
            self.t.service_projects[service_id] = project_id
        return result
