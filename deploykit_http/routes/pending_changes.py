"""The staged log of a project: list, discard, and apply (deploy). Handlers call the
``StagingService`` only; the rooms and the reconciler follow the events it publishes."""

from __future__ import annotations

from typing import Any

from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.shapes.staging import (
    ApplyResultOut,
    DiscardOut,
    PendingChangeList,
    PendingDiffOut,
    apply_result_out,
    pending_change_out,
    scope_diff_out,
)


def endpoints(ctx: Context) -> list[Endpoint]:
    pending = ctx.c.pending_changes

    async def list_changes(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        return {"data": [pending_change_out(c) for c in await pending.list_pending_changes(project.id)]}

    async def diff(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        return {"data": [scope_diff_out(d) for d in await pending.diff_pending_changes(project.id)]}

    async def discard_all(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        return {"removed": await pending.discard_pending_changes(project.id)}

    async def discard_one(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        return {"removed": await pending.discard_pending_changes(project.id, call.params["change_id"])}

    async def deploy(call: Call) -> Any:
        # The store publishes ``changes.applied`` and what it created: the canvas and the
        # reconciler hear it from the bus, once.
        project = await ctx.project(call.params["project_id"])
        return apply_result_out(await pending.apply_pending_changes(project.id, call.user.id, call.actor))

    tag = "pending-changes"
    base = "/projects/{project_id}/pending-changes"
    return [
        Endpoint(
            "GET",
            base,
            list_changes,
            "List staged changes (oldest first)",
            tag,
            response=PendingChangeList,
            errors=(404,),
        ),
        Endpoint(
            "GET",
            base + "/diff",
            diff,
            "What the staged changes would do: per project, service and group, each field and env var "
            "before and after, as an apply would replay them",
            tag,
            response=PendingDiffOut,
            errors=(404,),
        ),
        Endpoint("DELETE", base, discard_all, "Discard every staged change", tag, response=DiscardOut, errors=(404,)),
        Endpoint(
            "DELETE",
            base + "/{change_id}",
            discard_one,
            "Discard one staged change and its dependents",
            tag,
            response=DiscardOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/projects/{project_id}/deploy",
            deploy,
            "Apply every staged change atomically",
            tag,
            response=ApplyResultOut,
            errors=(400, 404, 409, 422),
        ),
    ]
