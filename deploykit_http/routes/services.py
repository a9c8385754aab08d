"""Services: reads are immediate; creation, edits and deletion are staged."""

from __future__ import annotations

import dataclasses
from typing import Any

from deploykit.errors import FieldErrors
from deploykit.pending_change import ChangeKind, PendingChangeCreate
from deploykit.repository import unredact_url
from deploykit.service import GitSource, ServiceConfig, ServiceFilter, ServiceUpdate, validate_service_name
from deploykit.staging import ServiceStage
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.shapes import page
from deploykit_http.shapes.services import ServiceOut, ServicePage, service_out
from deploykit_http.shapes.staging import PendingChangeOut, pending_change_out
from deploykit_http.staging import stage, stage_service_create


def config_from(body: m.ServiceCreateIn) -> ServiceConfig:
    return ServiceConfig.from_dict(body.model_dump(exclude={"name", "group_id", "position_x", "position_y"}))


def update_from(body: m.ServiceUpdateIn) -> ServiceUpdate:
    return ServiceUpdate.from_dict(body.model_dump(include=body.model_fields_set))


def keep_credentials(upd: ServiceUpdate, config: ServiceConfig) -> ServiceUpdate:
    """A client sends back the redacted repository URL it was shown: that means the stored one."""
    if isinstance(upd.source, GitSource) and isinstance(config.source, GitSource):
        url = unredact_url(upd.source.repo_url, config.source.repo_url)
        if url != upd.source.repo_url:
            return dataclasses.replace(upd, source=dataclasses.replace(upd.source, repo_url=url))
    return upd


def endpoints(ctx: Context) -> list[Endpoint]:
    services = ctx.c.services

    async def list_services(call: Call) -> Any:
        q: m.Paging = call.query
        project = await ctx.project(call.params["project_id"])
        items, total = await services.list_services(
            ServiceFilter(project_id=project.id, offset=q.offset, limit=q.limit, with_env=True)
        )
        base = ctx.settings.base_domain
        return page([service_out(s, project.slug, base) for s in items], total, q.offset, q.limit)

    async def create_service(call: Call) -> Any:
        body: m.ServiceCreateIn = call.body
        project = await ctx.project(call.params["project_id"])
        position = None
        if body.position_x is not None or body.position_y is not None:
            position = (body.position_x or 0.0, body.position_y or 0.0)
        staged = await stage_service_create(
            ctx.c.pending_changes,
            ctx.settings,
            ServiceStage(
                project_id=project.id,
                name=body.name,
                config=config_from(body),
                group_id=body.group_id,
                position=position,
                public=body.public,
                created_by=call.user.id,
            ),
        )
        return pending_change_out(staged.change)

    async def get_service(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        svc = await ctx.service_in(project.id, call.params["service_id"])
        return service_out(svc, project.slug, ctx.settings.base_domain)

    async def update_service(call: Call) -> Any:
        body: m.ServiceUpdateIn = call.body
        target = await ctx.c.pending_changes.get_service_target(call.params["project_id"], call.params["service_id"])
        upd = keep_credentials(update_from(body), target.config)
        errors = FieldErrors()
        if upd.name is not None:
            validate_service_name(upd.name, errors)
        upd.apply_to(target.config).validate(errors)
        errors.raise_if_any()
        return pending_change_out(
            await stage(
                ctx.c.pending_changes,
                ctx.settings,
                PendingChangeCreate(
                    project_id=target.project_id,
                    kind=ChangeKind.SERVICE_UPDATE,
                    payload=upd.to_dict(),
                    target_id=target.target_id,
                    target_temp_id=target.target_temp_id,
                    created_by=call.user.id,
                ),
            )
        )

    async def delete_service(call: Call) -> Any:
        target = await ctx.c.pending_changes.get_service_target(call.params["project_id"], call.params["service_id"])
        return pending_change_out(
            await stage(
                ctx.c.pending_changes,
                ctx.settings,
                PendingChangeCreate(
                    project_id=target.project_id,
                    kind=ChangeKind.SERVICE_DELETE,
                    payload={"name": target.name},
                    target_id=target.target_id,
                    target_temp_id=target.target_temp_id,
                    created_by=call.user.id,
                ),
            )
        )

    tag = "services"
    base = "/projects/{project_id}/services"
    one = base + "/{service_id}"
    return [
        Endpoint(
            "GET",
            base,
            list_services,
            "List a project's applied services",
            tag,
            query=m.Paging,
            response=ServicePage,
            errors=(404, 422),
        ),
        Endpoint(
            "POST",
            base,
            create_service,
            "Stage a new service",
            tag,
            body=m.ServiceCreateIn,
            response=PendingChangeOut,
            errors=(400, 404, 409, 422),
        ),
        Endpoint("GET", one, get_service, "Get a service", tag, response=ServiceOut, errors=(404,)),
        Endpoint(
            "PATCH",
            one,
            update_service,
            "Stage a service update",
            tag,
            body=m.ServiceUpdateIn,
            response=PendingChangeOut,
            errors=(400, 404, 409, 422),
        ),
        Endpoint(
            "DELETE",
            one,
            delete_service,
            "Stage a service deletion",
            tag,
            response=PendingChangeOut,
            errors=(404, 409),
        ),
    ]
