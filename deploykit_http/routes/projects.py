"""Projects. Creation and deletion are immediate; a rename is staged. The reconciler and the
canvas follow the store's events (``project.created``, ``project.deleted``)."""

from __future__ import annotations

from typing import Any

from deploykit.pending_change import ChangeKind, PendingChangeCreate
from deploykit.project import ProjectCreate, ProjectFilter, ProjectUpdate
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.shapes import page
from deploykit_http.shapes.services import ProjectOut, ProjectPage, project_out
from deploykit_http.shapes.staging import PendingChangeOut, pending_change_out


def endpoints(ctx: Context) -> list[Endpoint]:
    projects = ctx.c.projects

    async def list_projects(call: Call) -> Any:
        q: m.Paging = call.query
        items, total = await projects.list_projects(ProjectFilter(offset=q.offset, limit=q.limit))
        return page([project_out(p) for p in items], total, q.offset, q.limit)

    async def create_project(call: Call) -> Any:
        body: m.ProjectIn = call.body
        create = ProjectCreate(name=body.name)
        create.validate()
        return project_out(await projects.create_project(create))

    async def get_project(call: Call) -> Any:
        return project_out(await projects.get_project(call.params["project_id"]))

    async def update_project(call: Call) -> Any:
        body: m.ProjectIn = call.body
        project = await projects.get_project(call.params["project_id"])
        ProjectUpdate(name=body.name).validate()
        change = await ctx.c.pending_changes.append_pending_change(
            PendingChangeCreate(
                project_id=project.id,
                kind=ChangeKind.PROJECT_UPDATE,
                payload={"name": body.name},
                target_id=project.id,
                created_by=call.user.id,
            )
        )
        return pending_change_out(change)

    async def delete_project(call: Call) -> Any:
        # ``project.deleted`` closes the project's canvas sockets and has the reconciler clean up.
        await projects.delete_project(call.params["project_id"])
        return None

    tag = "projects"
    return [
        Endpoint(
            "GET",
            "/projects",
            list_projects,
            "List projects",
            tag,
            query=m.Paging,
            response=ProjectPage,
            errors=(422,),
            # Every user sees every project: the page depends on the paging and the store alone.
            cached=True,
        ),
        Endpoint(
            "POST",
            "/projects",
            create_project,
            "Create a project (immediate)",
            tag,
            body=m.ProjectIn,
            response=ProjectOut,
            status=201,
            errors=(400, 422),
        ),
        Endpoint(
            "GET", "/projects/{project_id}", get_project, "Get a project", tag, response=ProjectOut, errors=(404,)
        ),
        Endpoint(
            "PATCH",
            "/projects/{project_id}",
            update_project,
            "Rename a project (staged)",
            tag,
            body=m.ProjectIn,
            response=PendingChangeOut,
            errors=(400, 404, 409, 422),
        ),
        Endpoint(
            "DELETE",
            "/projects/{project_id}",
            delete_project,
            "Delete a project and what it owns",
            tag,
            status=204,
            errors=(404,),
        ),
    ]
