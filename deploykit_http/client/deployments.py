"""Deployments and what a service prints over the API: ``DeploymentService``, and log streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from deploykit.deployment import (
    Deployment,
    DeploymentCreate,
    DeploymentFailure,
    DeploymentFilter,
    DeploymentLog,
    DeploymentTrigger,
)
from deploykit.errors import INVALID, Error
from deploykit.logs import LogLine
from deploykit.service import Service
from deploykit_http.client import decode
from deploykit_http.client.projects import window
from deploykit_http.client.transport import PAGE, Transport, events, is_event_stream, not_offered


class DeploymentClient:
    """``deploykit.deployment.DeploymentService`` over the API. The lifecycle steps (``mark_*``)
    are the reconciler's and raise ``forbidden``, as do ``append_log`` and ``read_log``."""

    def __init__(self, t: Transport) -> None:
        self.t = t

    def _seen(self, body: dict[str, Any]) -> Deployment:
        dep = decode.deployment(body)
        self.t.deployment_services[dep.id] = dep.service_id
        self.t.service_projects[dep.service_id] = dep.project_id
        return dep

    async def get_deployment(self, id: str) -> Deployment:
        return self._seen(await self.t.request("GET", await self.t.deployment_path(id)))

    async def list_deployments(self, filt: DeploymentFilter) -> tuple[list[Deployment], int]:
        """Needs ``service_id`` or ``project_id`` (the API lists deployments per service)."""
        if filt.service_id is not None:
            path = await self.t.service_path(filt.service_id) + "/deployments"
            if filt.statuses is None and filt.limit <= PAGE:
                body = await self.t.request("GET", path, params={"offset": filt.offset, "limit": filt.limit})
                return [self._seen(d) for d in body["data"]], int(body["total_count"])
            found = [self._seen(d) async for d in self.t.pages(path)]
        elif filt.project_id is not None:
            found = []
            async for svc in self.t.pages(f"/projects/{filt.project_id}/services"):
                self.t.service_projects[svc["id"]] = filt.project_id
                found += [
                    self._seen(d) async for d in self.t.pages(await self.t.service_path(svc["id"]) + "/deployments")
                ]
            found.sort(key=lambda d: (d.created_at is not None, d.created_at), reverse=True)
        else:
            raise Error(INVALID, "Listing deployments over the API needs a service_id or a project_id.")
        if filt.statuses is not None:
            found = [d for d in found if d.status in filt.statuses]
        return window(found, filt.offset, filt.limit), len(found)

    async def create_deployment(self, create: DeploymentCreate) -> Deployment:
        raise not_offered("Creating a deployment directly (deploy, redeploy or roll back instead)")

    async def redeploy(
        self,
        service_id: str,
        created_by: str | None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
        trigger: DeploymentTrigger = DeploymentTrigger.REDEPLOY,
        actor: str | None = None,
    ) -> Deployment:
        """``created_by`` and ``actor`` are whoever the token belongs to; pinning a commit is for push webhooks."""
        if commit_sha is not None or trigger != DeploymentTrigger.REDEPLOY:
            raise not_offered("Redeploying a pinned commit (a push webhook does that)")
        return self._seen(await self.t.request("POST", await self.t.service_path(service_id) + "/redeploy"))

    async def rollback(
        self, service_id: str, deployment_id: str, created_by: str | None, actor: str | None = None
    ) -> Deployment:
        path = await self.t.service_path(service_id) + "/rollback"
        return self._seen(await self.t.request("POST", path, json={"deployment_id": deployment_id}))

    async def retry(
        self, service_id: str, deployment_id: str, created_by: str | None, actor: str | None = None
    ) -> Deployment:
        path = await self.t.service_path(service_id) + f"/deployments/{deployment_id}/retry"
        return self._seen(await self.t.request("POST", path))

    async def revert_config(self, service_id: str) -> Service:
        path = await self.t.service_path(service_id) + "/revert-config"
        return decode.service(await self.t.request("POST", path))

    async def mark_building(self, id: str) -> Deployment:
        raise not_offered("Recording a deployment's progress")

    async def mark_starting(
        self,
        id: str,
        image: str | None = None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
    ) -> Deployment:
        raise not_offered("Recording a deployment's progress")

    async def mark_healthy(self, id: str) -> Deployment:
        raise not_offered("Recording a deployment's progress")

    async def mark_failed(self, id: str, failure: DeploymentFailure) -> Deployment:
        raise not_offered("Recording a deployment's progress")

    async def mark_cancelled(self, id: str) -> Deployment:
        raise not_offered("Recording a deployment's progress")

    async def record_attempt(self, id: str) -> Deployment:
        raise not_offered("Recording a deployment's progress")

    async def append_log(self, id: str, text: str) -> None:
        raise not_offered("Writing a deployment's log")

    async def get_log(self, id: str) -> str:
        """The build and start log; for a deployment in flight, once it has finished."""
        return "".join([line + "\n" async for line in self.follow_log(id)])

    async def read_log(self, id: str) -> DeploymentLog:
        # The log's position counts what the daemon stored; the API streams the lines instead.
        raise not_offered("Reading a deployment's log position")

    async def follow_log(self, id: str) -> AsyncIterator[str]:
        """The build and start log line by line, following it while the deployment is in flight."""
        async with self.t.stream(await self.t.deployment_path(id) + "/logs") as response:
            if not is_event_stream(response):
                await response.aread()
                for line in str(response.json()["log"]).splitlines():
                    yield line
                return
            async for event in events(response):
                yield str(event.json().get("line", ""))


class RuntimeClient:
    """A service's runtime logs (an event stream of every running replica)."""

    def __init__(self, t: Transport) -> None:
        self.t = t

    async def service_logs(
        self, service_id: str, *, tail: int = 100, follow: bool = True, quiet_s: float = 1.0
    ) -> AsyncIterator[LogLine]:
        """The last ``tail`` lines of each replica, then (``follow``) new ones until every replica
        stops. Raises ``not_found``, ``unavailable`` (no Docker).

        The API only streams: without ``follow``, a replica's lines past its ``tail`` are new and
        left out, and the stream is left once ``quiet_s`` passes without a line kept, and at the
        latest ``3 * quiet_s`` after it opened (the daemon sends every replica's tail at once; a
        busy replica with fewer than ``tail`` lines of history may add its newest ones)."""
        path = await self.t.service_path(service_id) + "/logs"
        async with self.t.stream(path, params={"tail": tail}) as response:
            loop = asyncio.get_running_loop()
            given: dict[str, int] = {}
            stream = events(response).__aiter__()
            opened = loop.time()
            until = opened + quiet_s
            while True:
                try:
                    if follow:
                        event = await anext(stream)
                    else:
                        async with asyncio.timeout(max(0.0, until - loop.time())):
                            event = await anext(stream)
                except (StopAsyncIteration, TimeoutError):
                    return
                data = event.json() if event.data else {}
                if "line" not in data:
                    continue
                line = LogLine(
                    container_id=str(data.get("container_id", "")),
                    stream=str(data.get("stream", "stdout")),
                    line=str(data["line"]),
                    ts=decode.parse_time(data.get("ts")),
                )
                if not follow:
                    given[line.container_id] = given.get(line.container_id, 0) + 1
                    if given[line.container_id] > tail:
                        continue
                    until = min(loop.time() + quiet_s, opened + 3 * quiet_s)
                yield line
