"""The wire under the client: requests, paging, event streams, and the one place where HTTP
failures become domain errors (a JSON error body keeps its code; a daemon that cannot be reached is
``unavailable``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from deploykit.errors import (
    CODES,
    CONFLICT,
    FORBIDDEN,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    Error,
    ValidationError,
)

STATUS_CODES = {
    400: INVALID,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: INVALID,
    409: CONFLICT,
    413: INVALID,
    422: INVALID,
    429: RATE_LIMITED,
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: UNAVAILABLE,
}
PAGE = 100  # the API's largest page


def error_from_response(response: httpx.Response) -> Error:
    """The domain error an error response carries: its JSON ``error`` code and ``message`` (with
    ``fields`` as a ``ValidationError``), else one made from the status alone."""
    code = STATUS_CODES.get(response.status_code, INTERNAL)
    message = response.reason_phrase or f"HTTP {response.status_code}"
    fields: dict[str, list[str]] | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"] if body["error"] in CODES else code
        message = str(body.get("message") or message)
        if isinstance(body.get("fields"), dict):
            fields = {str(k): [str(r) for r in v] for k, v in body["fields"].items() if isinstance(v, list)}
    if code == INVALID and fields:
        return ValidationError(fields, message)
    retry_after: float | None = None
    if code == RATE_LIMITED:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
    if code == INTERNAL:
        message = "Internal error."
    return Error(code, message, retry_after=retry_after)


def error_from_transport(exc: httpx.TransportError, base_url: str) -> Error:
    """A request that got no answer: the daemon is down, unreachable, or too slow."""
    if isinstance(exc, httpx.TimeoutException):
        return Error(UNAVAILABLE, f"DeployKit at {base_url} did not answer in time.")
    return Error(UNAVAILABLE, f"Cannot reach DeployKit at {base_url}: {exc.__class__.__name__}.")


def not_offered(what: str) -> Error:
    return Error(FORBIDDEN, f"{what} is done by the daemon itself; the API does not offer it.")


class Transport:
    """One connection to a daemon: ``base_url`` is its address (``/api`` is added), ``token`` a
    session access token or an API key, ``transport`` replaces the network (tests pass
    ``httpx.MockTransport``). Constructing does no I/O.

    The REST API nests services under their project and deployments under their service, while
    the domain Protocols address them by id alone: the transport remembers the parent of every
    service and deployment it has seen, and finds an unknown one by listing.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._transport = transport
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self.service_projects: dict[str, str] = {}
        self.deployment_services: dict[str, str] = {}

    async def open(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url + "/api", transport=self._transport, timeout=self._timeout
            )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _headers(self, token: str | None) -> dict[str, str]:
        token = token if token is not None else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise Error(INTERNAL, "The client is not open: use 'async with Client(...)'.")
        return self._http

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        """The response's JSON (None for an empty body). Raises the domain error of a failure."""
        try:
            response = await self._client().request(
                method, path, json=json, params=params, headers=self._headers(token)
            )
        except httpx.TransportError as exc:
            raise error_from_transport(exc, self.base_url) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Error(INTERNAL, "Internal error.") from exc

    async def pages(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged list, page after page."""
        offset = 0
        while True:
            body = await self.request("GET", path, params={**(params or {}), "offset": offset, "limit": PAGE})
            items = body["data"]
            for item in items:
                yield item
            offset += len(items)
            if not items or offset >= int(body.get("total_count", 0)):
                return

    @asynccontextmanager
    async def stream(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[httpx.Response]:
        """A GET whose body is read as it arrives (an event stream). Raises the domain error
        when it does not open, or when the connection drops while it is read."""
        try:
            async with self._client().stream(
                "GET", path, params=params, headers=self._headers(None), timeout=httpx.Timeout(self._timeout, read=None)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise error_from_transport(exc, self.base_url) from exc

    async def learn_services(self, until: str | None = None) -> None:
        """Remember the project of every service, project by project (stopping at ``until``)."""
        async for project in self.pages("/projects"):
            async for svc in self.pages(f"/projects/{project['id']}/services"):
                self.service_projects[svc["id"]] = project["id"]
            if until is not None and until in self.service_projects:
                return

    async def project_of_service(self, service_id: str) -> str:
        """The project a service belongs to. Raises ``not_found``."""
        if service_id not in self.service_projects:
            await self.learn_services(until=service_id)
        try:
            return self.service_projects[service_id]
        except KeyError:
            raise Error(NOT_FOUND, "Service not found.") from None

    async def service_path(self, service_id: str) -> str:
        return f"/projects/{await self.project_of_service(service_id)}/services/{service_id}"

    async def service_of_deployment(self, deployment_id: str) -> str:
        """The service a deployment belongs to: remembered, else found among the newest page of
        deployments of every service (a new deployment is always there). Raises ``not_found``."""
        searched: set[str] = set()
        for learn in (False, True):
            if deployment_id in self.deployment_services:
                break
            if learn:
                await self.learn_services()
            for service_id in [s for s in self.service_projects if s not in searched]:
                searched.add(service_id)
                body = await self.request("GET", await self.service_path(service_id) + "/deployments")
                for dep in body["data"]:
                    self.deployment_services[dep["id"]] = service_id
                if deployment_id in self.deployment_services:
                    break
        try:
            return self.deployment_services[deployment_id]
        except KeyError:
            raise Error(NOT_FOUND, "Deployment not found.") from None

    async def deployment_path(self, deployment_id: str) -> str:
        return f"{await self.service_path(await self.service_of_deployment(deployment_id))}/deployments/{deployment_id}"


def is_event_stream(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("text/event-stream")


async def events(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """The server-sent events of a response, until the server's ``end`` event."""
    async for event in EventSource(response).aiter_sse():
        if event.event == "end":
            return
        yield event
