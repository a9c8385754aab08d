"""A client for a remote DeployKit: the domain's service Protocols implemented over the REST API.

The daemon's HTTP adapter serves these Protocols; this package is their client (as WTF Dial's
``http`` package is both). A tool imports the types from ``deploykit`` and drives a remote daemon
through the same interfaces the daemon uses inside::

    async with Client("https://deploy.example.com", token="dk_...") as dk:
        projects, total = await dk.projects.list_projects(ProjectFilter())

Every failure is a ``deploykit.Error`` with the API's code (a ``ValidationError`` naming the
fields for a 422); a daemon that cannot be reached is ``unavailable``. Methods that only the
daemon itself performs (recording a deployment's progress, say) raise ``forbidden``. The package
imports the domain, httpx and httpx-sse: nothing of the server.
"""

from __future__ import annotations

import httpx

from deploykit_http.client.auth import AuthClient
from deploykit_http.client.deployments import DeploymentClient, RuntimeClient
from deploykit_http.client.projects import DomainClient, ProjectClient, ServiceClient
from deploykit_http.client.staging import EnvVarClient, PendingChangeClient
from deploykit_http.client.transport import Transport, error_from_response, error_from_transport


class Client:
    """One daemon, and its services as domain Protocols: ``auth`` (AuthService), ``projects``
    (ProjectService), ``services`` (ServiceService), ``deployments`` (DeploymentService),
    ``env_vars`` (EnvVarService), ``pending_changes`` (PendingChangeService), ``domains``
    (DomainService), and ``runtime`` (log streams).

    ``base_url`` is the daemon's address; ``token`` a session access token or a ``dk_`` API key;
    ``transport`` replaces the network (tests pass ``httpx.MockTransport``). Constructing does no
    I/O: use ``async with`` (or ``open``/``close``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.transport = Transport(base_url, token, transport=transport, timeout=timeout)
        self.auth = AuthClient(self.transport)
        self.projects = ProjectClient(self.transport)
        self.services = ServiceClient(self.transport)
        self.deployments = DeploymentClient(self.transport)
        self.env_vars = EnvVarClient(self.transport)
        self.pending_changes = PendingChangeClient(self.transport, self.env_vars)
        self.domains = DomainClient(self.transport)
        self.runtime = RuntimeClient(self.transport)

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    async def open(self) -> None:
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> Client:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = [
    "AuthClient",
    "Client",
    "DeploymentClient",
    "DomainClient",
    "EnvVarClient",
    "PendingChangeClient",
    "ProjectClient",
    "RuntimeClient",
    "ServiceClient",
    "Transport",
    "error_from_response",
    "error_from_transport",
]
