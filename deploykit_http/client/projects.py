"""Projects, services and their domains over the API: ``ProjectService``, ``ServiceService`` and
``DomainService``."""

from __future__ import annotations

from typing import Any

from deploykit.errors import NOT_FOUND, Error
from deploykit.ingress import Domain, TLSStatus
from deploykit.project import Project, ProjectCreate, ProjectFilter, ProjectUpdate
from deploykit.service import Service, ServiceFilter, ServiceStatus
from deploykit_http.client import decode
from deploykit_http.client.transport import PAGE, Transport, not_offered


def window(items: list[Any], offset: int, limit: int) -> list[Any]:
    return items[offset : offset + limit]


class ProjectClient:
    """``deploykit.project.ProjectService`` over the API."""

    def __init__(self, t: Transport) -> None:
        self.t = t

    async def get_project(self, id: str) -> Project:
        return decode.project(await self.t.request("GET", f"/projects/{id}"))

    async def list_projects(self, filt: ProjectFilter) -> tuple[list[Project], int]:
        if filt.id is not None:
            try:
                return [await self.get_project(filt.id)], 1
            except Error as exc:
                if exc.code == NOT_FOUND:
                    return [], 0
                raise
        if filt.search is None and filt.limit <= PAGE:
            body = await self.t.request("GET", "/projects", params={"offset": filt.offset, "limit": filt.limit})
            return [decode.project(p) for p in body["data"]], int(body["total_count"])
        needle = (filt.search or "").lower()
        found = [decode.project(p) async for p in self.t.pages("/projects") if needle in p["name"].lower()]
        return window(found, filt.offset, filt.limit), len(found)

    async def create_project(self, create: ProjectCreate) -> Project:
        return decode.project(await self.t.request("POST", "/projects", json={"name": create.name}))

    async def update_project(self, id: str, upd: ProjectUpdate) -> Project:
        """Over the API a rename is staged: the project keeps its name until the next apply."""
        if upd.name is not None:
            await self.t.request("PATCH", f"/projects/{id}", json={"name": upd.name})
        return await self.get_project(id)

    async def delete_project(self, id: str) -> None:
        await self.t.request("DELETE", f"/projects/{id}")


class ServiceClient:
    """``deploykit.service.ServiceService`` over the API, and restarting a service."""

    def __init__(self, t: Transport) -> None:
        self.t = t

    def _seen(self, body: dict[str, Any]) -> Service:
        svc = decode.service(body)
        self.t.service_projects[svc.id] = svc.project_id
        return svc

    async def get_service(self, id: str) -> Service:
        return self._seen(await self.t.request("GET", await self.t.service_path(id)))

    async def list_services(self, filt: ServiceFilter) -> tuple[list[Service], int]:
        if filt.id is not None:
            try:
                found = [await self.get_service(filt.id)]
            except Error as exc:
                if exc.code != NOT_FOUND:
                    raise
                found = []
            found = [s for s in found if filt.project_id in (None, s.project_id)]
        else:
            if filt.project_id is not None:
                project_ids = [filt.project_id]
            else:
                project_ids = [p["id"] async for p in self.t.pages("/projects")]
            found = []
            for project_id in project_ids:
                found += [self._seen(s) async for s in self.t.pages(f"/projects/{project_id}/services")]
        if filt.name is not None:
            found = [s for s in found if s.name.lower() == filt.name.lower()]
        return window(found, filt.offset, filt.limit), len(found)

    async def set_service_status(self, id: str, status: ServiceStatus) -> Service:
        raise not_offered("Recording a service's observed status")

    async def set_service_stopped(self, id: str, stopped: bool) -> Service:
        """Stop the service (it stays stopped across reconciles) or start it again."""
        path = await self.t.service_path(id)
        return self._seen(await self.t.request("POST", path + ("/stop" if stopped else "/start")))

    async def restart_service(self, id: str) -> Service:
        """Restart the running replicas one at a time. Raises ``not_found``, ``unavailable``."""
        return self._seen(await self.t.request("POST", await self.t.service_path(id) + "/restart"))


class DomainClient:
    """``deploykit.ingress.DomainService`` over the API."""

    def __init__(self, t: Transport) -> None:
        self.t = t

    async def list_domains(self, service_id: str) -> list[Domain]:
        project_id = await self.t.project_of_service(service_id)
        body = await self.t.request("GET", await self.t.service_path(service_id) + "/domains")
        return [decode.domain(d, project_id, service_id) for d in body["data"]]

    async def list_all_domains(self) -> list[Domain]:
        await self.t.learn_services()
        out: list[Domain] = []
        for service_id in list(self.t.service_projects):
            out += await self.list_domains(service_id)
        return out

    async def add_domain(self, service_id: str, hostname: str, *, generated: bool = False) -> Domain:
        if generated:
            raise not_offered("Adding a generated domain")
        project_id = await self.t.project_of_service(service_id)
        path = await self.t.service_path(service_id) + "/domains"
        return decode.domain(await self.t.request("POST", path, json={"hostname": hostname}), project_id, service_id)

    async def delete_domain(self, service_id: str, hostname: str) -> None:
        await self.t.request("DELETE", f"{await self.t.service_path(service_id)}/domains/{hostname}")

    async def update_domain_status(self, hostname: str, *, dns_ok: bool | None, tls_status: TLSStatus) -> Domain:
        raise not_offered("Recording a domain's DNS and TLS status")
