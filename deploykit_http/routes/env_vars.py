"""Env vars at three scopes. Reads list applied vars; every write is staged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from deploykit.canvas import NodeType
from deploykit.env_edit import EnvEdit
from deploykit.envvar import EnvVar, EnvVarCreate, EnvVarFilter, EnvVarUpdate, Scope
from deploykit.errors import NOT_FOUND, Error
from deploykit.pending_change import ChangeKind, PendingChangeCreate
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.dotenv_text import parse_dotenv
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.shapes.staging import (
    EnvEditOut,
    EnvVarList,
    EnvVarOut,
    PendingChangeOut,
    env_edit_out,
    env_var_out,
    pending_change_out,
)
from deploykit_http.staging import stage

ScopeResolver = Callable[[Call], Awaitable[tuple[str, str, bool]]]
"""(project_id, scope_id, staged): staged is true for a service that exists only as a staged create."""


def endpoints(ctx: Context) -> list[Endpoint]:
    env_vars = ctx.c.env_vars

    async def project_scope(call: Call) -> tuple[str, str, bool]:
        project = await ctx.project(call.params["project_id"])
        return project.id, project.id, False

    async def group_scope(call: Call) -> tuple[str, str, bool]:
        project = await ctx.project(call.params["project_id"])
        try:
            node = await ctx.c.canvas.get_node(project.id, call.params["group_id"])
        except Error as exc:
            if exc.code == NOT_FOUND:
                raise Error(NOT_FOUND, "Group not found.") from None
            raise
        if node.type != NodeType.GROUP:
            raise Error(NOT_FOUND, "Group not found.")
        return project.id, node.id, False

    async def service_scope(call: Call) -> tuple[str, str, bool]:
        # A service staged for creation takes env vars on its temp id.
        target = await ctx.c.pending_changes.get_service_target(call.params["project_id"], call.params["service_id"])
        return target.project_id, target.key, target.target_id is None

    def make(scope: Scope, resolve: ScopeResolver, base: str, tag: str) -> list[Endpoint]:
        async def owned(call: Call) -> EnvVar:
            project_id, scope_id, staged = await resolve(call)
            if staged:
                raise Error(NOT_FOUND, "Env var not found.")
            var = await env_vars.get_env_var(call.params["env_var_id"])
            if var.project_id != project_id or var.scope != scope or var.scope_id != scope_id:
                raise Error(NOT_FOUND, "Env var not found.")
            return var

        async def list_vars(call: Call) -> Any:
            project_id, scope_id, staged = await resolve(call)
            if staged:
                return {"data": []}
            items = await env_vars.list_env_vars(EnvVarFilter(project_id=project_id, scope=scope, scope_id=scope_id))
            return {"data": [env_var_out(v) for v in items]}

        async def create_var(call: Call) -> Any:
            body: m.EnvVarIn = call.body
            project_id, scope_id, staged = await resolve(call)
            EnvVarCreate(
                project_id=project_id, scope=scope, scope_id=scope_id, key=body.key, value=body.value
            ).validate()
            change = await stage(
                ctx.c.pending_changes,
                ctx.settings,
                PendingChangeCreate(
                    project_id=project_id,
                    kind=ChangeKind.ENV_VAR_CREATE,
                    payload={"scope": scope.value, "scope_id": scope_id, "key": body.key, "value": body.value},
                    target_temp_id=scope_id if staged else None,
                    created_by=call.user.id,
                ),
            )
            return pending_change_out(change)

        async def edit_vars(call: Call) -> Any:
            body: m.EnvEditIn = call.body
            project_id, scope_id, _ = await resolve(call)
            values = parse_dotenv(body.dotenv) if body.dotenv is not None else {}
            values.update(body.values)
            edit = EnvEdit(
                project_id=project_id,
                scope=scope,
                scope_id=scope_id,
                values=values,
                unset=tuple(body.unset),
                replace=body.replace,
                created_by=call.user.id,
            )
            result = await ctx.c.pending_changes.stage_env_edit(edit, dry_run=body.dry_run)
            return env_edit_out(result, body.dry_run)

        async def get_var(call: Call) -> Any:
            return env_var_out(await owned(call))

        async def update_var(call: Call) -> Any:
            body: m.EnvVarUpdateIn = call.body
            var = await owned(call)
            EnvVarUpdate(value=body.value).validate()
            change = await stage(
                ctx.c.pending_changes,
                ctx.settings,
                PendingChangeCreate(
                    project_id=var.project_id,
                    kind=ChangeKind.ENV_VAR_UPDATE,
                    payload={"value": body.value},
                    target_id=var.id,
                    created_by=call.user.id,
                ),
            )
            return pending_change_out(change)

        async def delete_var(call: Call) -> Any:
            var = await owned(call)
            change = await stage(
                ctx.c.pending_changes,
                ctx.settings,
                PendingChangeCreate(
                    project_id=var.project_id,
                    kind=ChangeKind.ENV_VAR_DELETE,
                    payload={"key": var.key},
                    target_id=var.id,
                    created_by=call.user.id,
                ),
            )
            return pending_change_out(change)

        one = base + "/{env_var_id}"
        what = f"{scope.value}-scoped env var"
        return [
            Endpoint("GET", base, list_vars, f"List applied {what}s", tag, response=EnvVarList, errors=(404,)),
            Endpoint(
                "POST",
                base,
                create_var,
                f"Stage a new {what}",
                tag,
                body=m.EnvVarIn,
                response=PendingChangeOut,
                errors=(400, 404, 409, 422),
            ),
            Endpoint(
                "POST",
                base + "/edit",
                edit_vars,
                f"Set and unset {what}s in one go (a form, a .env paste); staged",
                tag,
                body=m.EnvEditIn,
                response=EnvEditOut,
                errors=(400, 404, 409, 422),
            ),
            Endpoint("GET", one, get_var, f"Get a {what}", tag, response=EnvVarOut, errors=(404,)),
            Endpoint(
                "PATCH",
                one,
                update_var,
                f"Stage a {what} update",
                tag,
                body=m.EnvVarUpdateIn,
                response=PendingChangeOut,
                errors=(400, 404, 409, 422),
            ),
            Endpoint(
                "DELETE",
                one,
                delete_var,
                f"Stage a {what} deletion",
                tag,
                response=PendingChangeOut,
                errors=(404, 409),
            ),
        ]

    return [
        *make(Scope.PROJECT, project_scope, "/projects/{project_id}/env-vars", "env-vars"),
        *make(Scope.GROUP, group_scope, "/projects/{project_id}/groups/{group_id}/env-vars", "env-vars"),
        *make(Scope.SERVICE, service_scope, "/projects/{project_id}/services/{service_id}/env-vars", "env-vars"),
    ]
