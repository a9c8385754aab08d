"""The staged log of a project: list, discard, and apply (deploy)."""

from __future__ import annotations

from typing import Any

from deploykit.errors import NOT_FOUND, error_code
from deploykit.pending_change import ChangeKind
from deploykit_http import models as m
from deploykit_http import render
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint


def endpoints(ctx: Context) -> list[Endpoint]:
    pending = ctx.c.pending_changes

    async def list_changes(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        return {"data": [render.pending_change(c) for c in await pending.list_pending_changes(project.id)]}

    async def drop_staged_nodes(project_id: str, before: list[Any], removed: list[str]) -> None:
        """A discarded service creation leaves no node behind on the canvas."""
        gone = set(removed)
        for change in before:
            if change.id in gone and change.kind == ChangeKind.SERVICE_CREATE and change.target_temp_id:
                try:
                    await ctx.c.canvas.delete_node(project_id, change.target_temp_id)
                except Exception as exc:
                    if error_code(exc) != NOT_FOUND:
                        raise
                await ctx.hub.node_deleted(project_id, change.target_temp_id)

    async def discard_all(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        before = await pending.list_pending_changes(project.id)
        removed = await pending.discard_pending_changes(project.id)
        await drop_staged_nodes(project.id, before, removed)
        await ctx.hub.changes_cleared(project.id)
        return {"removed": removed}

    async def discard_one(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        before = await pending.list_pending_changes(project.id)
        removed = await pending.discard_pending_changes(project.id, call.params["change_id"])
        await drop_staged_nodes(project.id, before, removed)
        await ctx.hub.changes_removed(project.id, removed)
        return {"removed": removed}

    async def deploy(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        result = await pending.apply_pending_changes(project.id, call.user.id)
        if ctx.c.reconciler is not None:
            ctx.c.reconciler.trigger()
        await ctx.hub.changes_applied(project.id, result, call.user.id)
        return render.apply_result(result)

    tag = "pending-changes"
    base = "/projects/{project_id}/pending-changes"
    return [
        Endpoint(
            "GET",
            base,
            list_changes,
            "List staged changes (oldest first)",
            tag,
            response=m.PendingChangeList,
            errors=(404,),
        ),
        Endpoint("DELETE", base, discard_all, "Discard every staged change", tag, response=m.DiscardOut, errors=(404,)),
        Endpoint(
            "DELETE",
            base + "/{change_id}",
            discard_one,
            "Discard one staged change and its dependents",
            tag,
            response=m.DiscardOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/projects/{project_id}/deploy",
            deploy,
            "Apply every staged change atomically",
            tag,
            response=m.ApplyResultOut,
            errors=(400, 404, 409, 422),
        ),
    ]
