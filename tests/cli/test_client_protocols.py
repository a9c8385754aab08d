"""The client's parts are the domain's service Protocols: mypy checks the assignments below, and
the test checks that every Protocol method has its implementation."""

from __future__ import annotations

import inspect

import pytest

from deploykit.auth import AuthService
from deploykit.deployment import DeploymentService
from deploykit.envvar import EnvVarService
from deploykit.ingress import DomainService
from deploykit.project import ProjectService
from deploykit.service import ServiceService
from deploykit.staging import StagingService
from deploykit_http.client import Client


def conforming(c: Client) -> list[object]:
    auth: AuthService = c.auth
    projects: ProjectService = c.projects
    services: ServiceService = c.services
    deployments: DeploymentService = c.deployments
    env_vars: EnvVarService = c.env_vars
    pending: StagingService = c.pending_changes
    domains: DomainService = c.domains
    return [auth, projects, services, deployments, env_vars, pending, domains]


@pytest.mark.parametrize(
    ("protocol", "attribute"),
    [
        (AuthService, "auth"),
        (ProjectService, "projects"),
        (ServiceService, "services"),
        (DeploymentService, "deployments"),
        (EnvVarService, "env_vars"),
        (StagingService, "pending_changes"),
        (DomainService, "domains"),
    ],
)
def test_each_protocol_method_is_implemented_with_its_signature(protocol: type, attribute: str) -> None:
    part = getattr(Client("http://dk.test"), attribute)
    for name, method in inspect.getmembers(protocol, inspect.isfunction):
        if name.startswith("_"):
            continue
        implementation = getattr(part, name)
        assert inspect.iscoroutinefunction(implementation) == inspect.iscoroutinefunction(method), name
        wanted = list(inspect.signature(method).parameters)[1:]
        assert list(inspect.signature(implementation).parameters) == wanted, name


def test_the_client_exposes_each_protocol_as_one_part() -> None:
    client = Client("http://dk.test")
    parts = conforming(client)
    assert [type(p).__name__ for p in parts] == [
        "AuthClient",
        "ProjectClient",
        "ServiceClient",
        "DeploymentClient",
        "EnvVarClient",
        "PendingChangeClient",
        "DomainClient",
    ]
    assert all(p.t is client.transport for p in parts)  # type: ignore[attr-defined]
