"""Fakes of the domain Protocols for the HTTP adapter's unit tests.

Each fake is a small dataclass with one callable field per method; a test sets the fields it
needs and any other call fails loudly, so that a test states exactly what the handler may do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from deploykit.auth import Identity
from deploykit.clock import Clock
from deploykit.logs import LogLine
from deploykit.project import Project
from deploykit.runtime import ContainerState
from deploykit.service import ImageSource, Service, ServiceConfig
from deploykit.user import Role, User
from deploykit_events import EventBus
from deploykit_http.context import Collaborators


def unset(name: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected call: {name}{args}")

    return fail


def fake(cls_name: str, *methods: str, sync: tuple[str, ...] = ()) -> type:
    """Build a dataclass whose fields are the methods; async methods await the field's result
    when it is awaitable, so that tests may give plain lambdas."""

    def make_async(name: str) -> Callable[..., Awaitable[Any]]:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = getattr(self, f"{name}_fn")(*args, **kwargs)
            if isinstance(result, Awaitable):
                result = await result
            return result

        return call

    def make_sync(name: str) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(self, f"{name}_fn")(*args, **kwargs)

        return call

    namespace: dict[str, Any] = {"__annotations__": {}}
    for m in (*methods, *sync):
        namespace["__annotations__"][f"{m}_fn"] = "Callable[..., Any]"
        namespace[f"{m}_fn"] = field(default_factory=partial(unset, m))
    for m in methods:
        namespace[m] = make_async(m)
    for m in sync:
        namespace[m] = make_sync(m)
    return dataclass(type(cls_name, (), namespace))


FakeAuth = fake(
    "FakeAuth",
    "can_register",
    "register",
    "login",
    "refresh",
    "authenticate",
    "session_active",
    "logout",
    "logout_all",
    "update_profile",
    "reset_password",
    "create_api_key",
    "list_api_keys",
    "delete_api_key",
)
FakeUsers = fake("FakeUsers", "get_user", "list_users", "create_user", "update_user", "delete_user")
FakeProjects = fake(
    "FakeProjects", "get_project", "list_projects", "create_project", "update_project", "delete_project"
)
FakeServices = fake("FakeServices", "get_service", "list_services", "set_service_status", "set_service_stopped")
FakeDeployments = fake(
    "FakeDeployments",
    "get_deployment",
    "list_deployments",
    "create_deployment",
    "redeploy",
    "rollback",
    "retry",
    "revert_config",
    "mark_building",
    "mark_starting",
    "mark_healthy",
    "mark_failed",
    "mark_cancelled",
    "record_attempt",
    "append_log",
    "get_log",
    "read_log",
)
FakeContainers = fake("FakeContainers", "upsert_container", "list_containers", "delete_container")
FakeCanvas = fake(
    "FakeCanvas",
    "list_nodes",
    "get_node",
    "upsert_node",
    "delete_node",
    "move_nodes",
    "list_edges",
    "upsert_edge",
    "delete_edge",
)
FakeEnvVars = fake("FakeEnvVars", "get_env_var", "list_env_vars", "resolve_service_env")
FakePending = fake(
    "FakePending",
    "list_pending_changes",
    "append_pending_change",
    "discard_pending_changes",
    "apply_pending_changes",
    "stage_service",
    "get_service_target",
    "diff_pending_changes",
    "stage_env_edit",
)
FakeRuntime = fake("FakeRuntime", "ping", "list_containers")
FakeRestarter = fake("FakeRestarter", "restart_service")
FakeSystem = fake("FakeSystem", "about", "status")


@dataclass
class FakeLogs:
    lines: dict[str, list[LogLine]] = field(default_factory=dict)
    hold: dict[str, Any] = field(default_factory=dict)
    """Container ids whose stream waits on this awaitable after its lines (a live container)."""

    async def follow(self, container_id: str, tail: int = 100) -> AsyncIterator[LogLine]:
        for line in self.lines.get(container_id, [])[-tail:] if tail else []:
            yield line
        if container_id in self.hold:
            await self.hold[container_id]

    async def tail(self, container_id: str, lines: int = 50) -> list[LogLine]:
        return self.lines.get(container_id, [])[-lines:]


@dataclass
class FakeClock:
    at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    mono: float = 1000.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.mono += seconds


ADMIN = User(id="u-admin", email="admin@example.com", name="Ada", role=Role.ADMIN)
MEMBER = User(id="u-member", email="member@example.com", name="Max", role=Role.MEMBER)
PROJECT = Project(id="p1", name="Shop", slug="shop-abc123")
SERVICE = Service(
    id="s1", project_id="p1", name="api", slug="api", config=ServiceConfig(source=ImageSource("nginx:1.27"), port=80)
)


def identity_for(tokens: dict[str, User], clock: Clock | None = None) -> Callable[[str], Identity]:
    """``authenticate`` over a token -> user table; each token is its own session."""

    def authenticate(token: str) -> Identity:
        from deploykit.errors import UNAUTHORIZED, Error

        user = tokens.get(token)
        if user is None:
            raise Error(UNAUTHORIZED, "The token is invalid or expired.")
        return Identity(user=user, session_id=f"session-{token}")

    return authenticate


def container(id: str, service_id: str = "s1", state: str = "running", replica: int = 0) -> ContainerState:
    labels = {"deploykit.service-id": service_id, "deploykit.replica-index": str(replica)}
    return ContainerState(id=id, name=f"dk-{id}", labels=labels, state=state)


@dataclass
class World:
    """Every collaborator as a fake, and the Collaborators built from them."""

    auth: Any = field(default_factory=FakeAuth)
    users: Any = field(default_factory=FakeUsers)
    projects: Any = field(default_factory=FakeProjects)
    services: Any = field(default_factory=FakeServices)
    deployments: Any = field(default_factory=FakeDeployments)
    containers: Any = field(default_factory=FakeContainers)
    canvas: Any = field(default_factory=FakeCanvas)
    env_vars: Any = field(default_factory=FakeEnvVars)
    pending: Any = field(default_factory=FakePending)
    bus: EventBus = field(default_factory=EventBus)
    clock: FakeClock = field(default_factory=FakeClock)
    runtime: Any = None
    logs: Any = None
    restarter: Any = None
    system: Any = None

    def __post_init__(self) -> None:
        self.auth.authenticate_fn = identity_for({"admin-token": ADMIN, "member-token": MEMBER})
        self.projects.get_project_fn = lambda id: PROJECT if id == PROJECT.id else not_found("Project")
        self.services.get_service_fn = lambda id: SERVICE if id == SERVICE.id else not_found("Service")

    def collaborators(self) -> Collaborators:
        async def ping() -> bool:
            return True

        return Collaborators(
            auth=self.auth,
            users=self.users,
            projects=self.projects,
            services=self.services,
            deployments=self.deployments,
            containers=self.containers,
            canvas=self.canvas,
            env_vars=self.env_vars,
            pending_changes=self.pending,
            bus=self.bus,
            ping_database=ping,
            runtime=self.runtime,
            logs=self.logs,
            restarter=self.restarter,
            system=self.system,
            clock=self.clock,
        )


def not_found(what: str) -> Any:
    from deploykit.errors import not_found as nf

    raise nf(what)
