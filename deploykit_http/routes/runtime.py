"""What a service does at runtime: deployments, redeploy and rollback, stop/start/restart, its
containers and their logs. Everything that needs the reconciler or Docker answers 503 without it.

A redeploy, rollback, stop or start is stored, and the store's event (``deployment.created``,
``service.stopped|started``) wakes the reconciler: no handler here calls it. A restart is the one
command it runs for a handler, which waits for its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import Field
from starlette.responses import StreamingResponse

from deploykit.container import ContainerFilter
from deploykit.deployment import DeploymentFilter
from deploykit.errors import NOT_FOUND, UNAUTHORIZED, UNAVAILABLE, Error, error_code
from deploykit.runtime import LABEL_SERVICE_ID
from deploykit_http import models as m
from deploykit_http import sse
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint, bearer_token
from deploykit_http.shapes import page
from deploykit_http.shapes.services import (
    ContainerList,
    DeploymentLogOut,
    DeploymentOut,
    DeploymentPage,
    ServiceOut,
    container_out,
    deployment_out,
    service_out,
)


class LogQuery(m.Model):
    tail: int = Field(default=500, ge=0, le=10_000)


def endpoints(ctx: Context) -> list[Endpoint]:
    deployments = ctx.c.deployments

    def authorized_stream(call: Call, stream: Callable[[asyncio.Event], AsyncIterator[str]]) -> AsyncIterator[str]:
        """``stream`` until it ends, the server stops, or the session or API key that opened it
        ends. A session is asked by id (its access token rotates while the stream stays open)."""
        identity = call.identity
        token = bearer_token(call.request) or ""

        async def authorized() -> bool:
            if identity is not None and identity.session_id is not None:
                return await ctx.c.auth.session_active(identity.session_id)
            try:
                await ctx.c.auth.authenticate(token)
            except Error as exc:
                if exc.code == UNAUTHORIZED:
                    return False
                raise
            return True

        return sse.while_authorized(stream, ctx.hub.shutdown_event, authorized, ctx.settings.sse_auth_check_s)

    async def list_deployments(call: Call) -> Any:
        q: m.Paging = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        items, total = await deployments.list_deployments(
            DeploymentFilter(service_id=svc.id, offset=q.offset, limit=q.limit)
        )
        return page([deployment_out(d) for d in items], total, q.offset, q.limit)

    async def owned_deployment(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        dep = await deployments.get_deployment(call.params["deployment_id"])
        if dep.service_id != svc.id:
            raise Error(NOT_FOUND, "Deployment not found.")
        return dep

    async def get_deployment(call: Call) -> Any:
        return deployment_out(await owned_deployment(call))

    async def deployment_log(call: Call) -> Any:
        dep = await owned_deployment(call)
        if dep.in_flight:
            stream = authorized_stream(
                call,
                lambda stop: sse.deployment_log(
                    deployments, ctx.c.bus, dep.id, dep.service_id, ctx.settings.sse_ping_s, stop
                ),
            )
            return StreamingResponse(stream, media_type="text/event-stream", headers=sse.SSE_HEADERS)
        return {"deployment_id": dep.id, "status": dep.status, "log": await deployments.get_log(dep.id)}

    async def redeploy(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        ctx.require_deploys()
        return deployment_out(await deployments.redeploy(svc.id, call.user.id, actor=call.actor))

    async def rollback(call: Call) -> Any:
        body: m.RollbackIn = call.body
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        ctx.require_deploys()
        return deployment_out(await deployments.rollback(svc.id, body.deployment_id, call.user.id, call.actor))

    async def retry(call: Call) -> Any:
        dep = await owned_deployment(call)
        ctx.require_deploys()
        return deployment_out(await deployments.retry(dep.service_id, dep.id, call.user.id, call.actor))

    async def revert_config(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        svc = await ctx.service_in(project.id, call.params["service_id"])
        return service_out(await deployments.revert_config(svc.id), project.slug, ctx.settings.base_domain)

    def set_stopped(stopped: bool) -> Any:
        async def handler(call: Call) -> Any:
            project = await ctx.project(call.params["project_id"])
            svc = await ctx.service_in(project.id, call.params["service_id"])
            ctx.require_deploys()
            svc = await ctx.c.services.set_service_stopped(svc.id, stopped)
            return service_out(svc, project.slug, ctx.settings.base_domain)

        return handler

    async def restart(call: Call) -> Any:
        project = await ctx.project(call.params["project_id"])
        svc = await ctx.service_in(project.id, call.params["service_id"])
        await ctx.restarter().restart_service(svc.id)
        return service_out(svc, project.slug, ctx.settings.base_domain)

    async def containers(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        records = await ctx.c.containers.list_containers(ContainerFilter(service_id=svc.id))
        live: dict[str, Any] = {}
        if ctx.c.runtime is not None:
            try:
                live = {c.id: c for c in await ctx.c.runtime.list_containers() if c.service_id == svc.id}
            except Exception as exc:
                if error_code(exc) != UNAVAILABLE:
                    raise
        out = []
        for rec in records:
            item = container_out(rec)
            state = live.get(rec.id)
            if state is not None:
                item["state"] = state.state
                item["exit_code"] = state.exit_code
                item["restart_count"] = state.restart_count
                item["ip_address"] = state.ip_address
            elif ctx.c.runtime is not None and live:
                item["state"] = "missing"
            out.append(item)
        return {"data": out}

    async def runtime_logs(call: Call) -> Any:
        q: LogQuery = call.query
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        streamer = ctx.logs()
        found = await ctx.runtime().list_containers()
        mine = [c for c in found if c.labels.get(LABEL_SERVICE_ID) == svc.id]
        ids = [c.id for c in mine]
        replicas = {c.id: c.replica_index for c in mine}
        stream = authorized_stream(
            call,
            lambda stop: sse.runtime_logs(streamer, ids, q.tail, ctx.settings.sse_ping_s, stop, replicas=replicas),
        )
        return StreamingResponse(stream, media_type="text/event-stream", headers=sse.SSE_HEADERS)

    tag = "runtime"
    svc_path = "/projects/{project_id}/services/{service_id}"
    dep_path = svc_path + "/deployments/{deployment_id}"
    return [
        Endpoint(
            "GET",
            svc_path + "/deployments",
            list_deployments,
            "A service's deployments, newest first",
            tag,
            query=m.Paging,
            response=DeploymentPage,
            errors=(404, 422),
        ),
        Endpoint("GET", dep_path, get_deployment, "Get a deployment", tag, response=DeploymentOut, errors=(404,)),
        Endpoint(
            "GET",
            dep_path + "/logs",
            deployment_log,
            "A deployment's build and start log (an event stream while in flight)",
            tag,
            response=DeploymentLogOut,
            errors=(404,),
            extra={"stream": True},
        ),
        Endpoint(
            "POST",
            svc_path + "/redeploy",
            redeploy,
            "Deploy the active config again with fresh env",
            tag,
            response=DeploymentOut,
            status=201,
            errors=(404, 409, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/rollback",
            rollback,
            "Make an older healthy deployment the target again",
            tag,
            body=m.RollbackIn,
            response=DeploymentOut,
            status=201,
            errors=(400, 404, 422, 503),
        ),
        Endpoint(
            "POST",
            dep_path + "/retry",
            retry,
            "Deploy a failed or cancelled deployment's snapshot again",
            tag,
            response=DeploymentOut,
            status=201,
            errors=(400, 404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/revert-config",
            revert_config,
            "Make the service's config that of the deployment it runs (no new deployment)",
            tag,
            response=ServiceOut,
            errors=(404, 409),
        ),
        Endpoint(
            "POST",
            svc_path + "/stop",
            set_stopped(True),
            "Stop the service (kept stopped)",
            tag,
            response=ServiceOut,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/start",
            set_stopped(False),
            "Start a stopped service",
            tag,
            response=ServiceOut,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/restart",
            restart,
            "Restart the running replicas one at a time",
            tag,
            response=ServiceOut,
            errors=(404, 503),
        ),
        Endpoint(
            "GET",
            svc_path + "/containers",
            containers,
            "Container records with live state",
            tag,
            response=ContainerList,
            errors=(404,),
        ),
        Endpoint(
            "GET",
            svc_path + "/logs",
            runtime_logs,
            "Runtime logs as an event stream",
            tag,
            query=LogQuery,
            errors=(404, 422, 503),
            content_type="text/event-stream",
        ),
    ]
