"""A service's domains, with live DNS/TLS status.

Domain changes reach the proxy through the reconciler: the handler stores the change, the store
publishes ``domain.added|removed``, and the service's next converge sends the route with its new
hostnames in one admin change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from deploykit.errors import NOT_FOUND, Error, FieldErrors
from deploykit.ingress import Domain, DomainService, normalize_hostname, validate_hostname
from deploykit_http import models as m
from deploykit_http.context import Context
from deploykit_http.endpoint import Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.shapes.traffic import DomainList, DomainOut, domain_out

STATUS_CHECK_TIMEOUT_S = 5.0
"""A listing never waits longer than this for DNS/TLS probes; slower ones keep their stored status."""


class DomainIn(m.Body):
    hostname: str = Field(examples=["app.example.com"])


def endpoints(ctx: Context) -> list[Endpoint]:
    def domains() -> DomainService:
        if ctx.c.domains is None:
            raise unavailable("Domains")
        return ctx.c.domains

    async def refreshed(items: list[Domain]) -> list[Domain]:
        """Live DNS/TLS status from the checker, stored; a slow or missing checker leaves the
        stored status as it is."""
        checker = ctx.c.domain_checker
        if checker is None or not items:
            return items
        try:
            checks = await asyncio.wait_for(
                asyncio.gather(*(checker.check_domain(d.hostname) for d in items)), STATUS_CHECK_TIMEOUT_S
            )
        except TimeoutError:
            return items
        out = []
        for d, check in zip(items, checks, strict=True):
            if (check.dns_ok, check.tls_status) != (d.dns_ok, d.tls_status):
                try:
                    d = await domains().update_domain_status(
                        d.hostname, dns_ok=check.dns_ok, tls_status=check.tls_status
                    )
                except Error as exc:
                    if exc.code != NOT_FOUND:  # removed meanwhile
                        raise
            out.append(d)
        return out

    async def list_domains(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        items = await refreshed(await domains().list_domains(svc.id))
        return {"data": [domain_out(d) for d in items]}

    async def add_domain(call: Call) -> Any:
        body: DomainIn = call.body
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        errors = FieldErrors()
        validate_hostname(body.hostname, errors)
        errors.raise_if_any()
        d = await domains().add_domain(svc.id, normalize_hostname(body.hostname))
        [d] = await refreshed([d])
        return domain_out(d)

    async def delete_domain(call: Call) -> Any:
        svc = await ctx.service_in(call.params["project_id"], call.params["service_id"])
        await domains().delete_domain(svc.id, normalize_hostname(call.params["hostname"]))
        return None

    tag = "traffic"
    svc_path = "/projects/{project_id}/services/{service_id}"
    return [
        Endpoint(
            "GET",
            svc_path + "/domains",
            list_domains,
            "A service's domains with live DNS and TLS status",
            tag,
            response=DomainList,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            svc_path + "/domains",
            add_domain,
            "Add a custom domain (routed at once)",
            tag,
            body=DomainIn,
            response=DomainOut,
            status=201,
            errors=(404, 409, 422, 503),
        ),
        Endpoint(
            "DELETE",
            svc_path + "/domains/{hostname}",
            delete_domain,
            "Remove a custom domain (the generated one stays)",
            tag,
            status=204,
            errors=(400, 404, 503),
        ),
    ]
