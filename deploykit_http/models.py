"""Pydantic models of the API: request bodies the handlers validate with, and response shapes.

The OpenAPI document is generated from these same classes, so the contract cannot drift from what
the handlers accept. Business validation (names, image references, ports...) stays in the domain's
``validate()``; these models check only types and shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = str


class Model(BaseModel):
    """Every model of the API. Each is built on first use (``defer_build``): most are response
    shapes that only the OpenAPI document reads, and building them all at import would cost the
    idle daemon several megabytes for nothing."""

    model_config = ConfigDict(defer_build=True)


class Body(Model):
    # No NaN or infinity from strings such as "Infinity": a stored one breaks every response carrying it.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


# --- errors -------------------------------------------------------------------------------------


class ErrorOut(Model):
    error: str
    message: str
    fields: dict[str, list[str]] | None = None


# --- auth ---------------------------------------------------------------------------------------


class RegisterIn(Body):
    email: str
    name: str
    password: str


class LoginIn(Body):
    email: str
    password: str


class RefreshIn(Body):
    refresh_token: str


class ProfileIn(Body):
    name: str | None = None
    email: str | None = None
    new_password: str | None = None
    current_password: str | None = None
    revoke_api_keys: bool = False
    """With ``new_password``: delete the user's API keys too."""


class UserOut(Model):
    id: Id
    email: str
    name: str
    role: Literal["admin", "member"]
    created_at: datetime | None
    updated_at: datetime | None


class TokensOut(Model):
    access_token: str
    refresh_token: str
    expires_at: datetime


class RegisterOut(Model):
    user: UserOut
    tokens: TokensOut


class CanRegisterOut(Model):
    can_register: bool


class APIKeyIn(Body):
    description: str = Field(max_length=200)
    expires_at: datetime | None = None


class APIKeyOut(Model):
    id: Id
    description: str
    prefix: str
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    token: str | None = None


class APIKeyList(Model):
    data: list[APIKeyOut]


class OkOut(Model):
    ok: bool


# --- users --------------------------------------------------------------------------------------


class UserCreateIn(Body):
    email: str
    name: str
    password: str
    role: Literal["admin", "member"] = "member"


class UserUpdateIn(Body):
    name: str | None = None
    email: str | None = None
    role: Literal["admin", "member"] | None = None
    password: str | None = None
    keep_api_keys: bool = False
    """A new ``password`` deletes the user's API keys unless this is true."""


class UserPage(Model):
    data: list[UserOut]
    total_count: int
    offset: int
    limit: int


# --- projects -----------------------------------------------------------------------------------


class ProjectIn(Body):
    name: str


class ProjectOut(Model):
    id: Id
    name: str
    slug: str
    created_at: datetime | None
    updated_at: datetime | None


class ProjectPage(Model):
    data: list[ProjectOut]
    total_count: int
    offset: int
    limit: int


# --- services -----------------------------------------------------------------------------------


class ImageSourceM(Model):
    type: Literal["image"]
    image: str


class GitSourceM(Model):
    type: Literal["git"]
    repo_url: str
    branch: str = "main"
    dockerfile_path: str = "Dockerfile"
    context: str = "."


SourceM = Annotated[ImageSourceM | GitSourceM, Field(discriminator="type")]


class ResourcesM(Model):
    cpus: float | None = None
    memory_mb: int | None = None


class VolumeM(Model):
    name: str
    mount_path: str


class HealthCheckM(Model):
    type: Literal["http", "tcp"] = "http"
    path: str = "/"
    interval_s: float = 5.0
    timeout_s: float = 2.0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3
    start_period_s: float = 0.0


RestartPolicyM = Literal["no", "always", "unless-stopped", "on-failure"]


class ServiceCreateIn(Body):
    name: str
    source: SourceM
    port: int | None = None
    command: list[str] | None = None
    replicas: int = 1
    resources: ResourcesM | None = None
    volumes: list[VolumeM] = Field(default_factory=list)
    health_check: HealthCheckM | None = None
    restart_policy: RestartPolicyM = "unless-stopped"
    group_id: str | None = None
    position_x: float | None = None
    position_y: float | None = None


class ServiceUpdateIn(Body):
    """Only the fields present are changed; an explicit null clears a nullable field."""

    name: str | None = None
    source: SourceM | None = None
    port: int | None = None
    command: list[str] | None = None
    replicas: int | None = None
    resources: ResourcesM | None = None
    volumes: list[VolumeM] | None = None
    health_check: HealthCheckM | None = None
    restart_policy: RestartPolicyM | None = None
    group_id: str | None = None
    drain_s: float | None = Field(default=None, ge=0, le=3600)
    """Seconds old replicas keep serving in-flight requests after traffic switches away."""


class ServiceOut(Model):
    id: Id
    project_id: Id
    name: str
    slug: str
    source: ImageSourceM | GitSourceM
    port: int | None
    command: list[str] | None
    replicas: int
    resources: ResourcesM
    volumes: list[VolumeM]
    health_check: HealthCheckM | None
    restart_policy: str
    status: Literal["created", "deploying", "running", "degraded", "failed", "stopped"]
    active_deployment_id: Id | None
    group_id: Id | None
    stopped: bool
    domains: list[str]
    drain_s: float
    rollout: Literal["start-first", "stop-first"]
    """stop-first for services with volumes (or no port): the old replicas stop before the new start."""
    created_at: datetime | None
    updated_at: datetime | None


class ServicePage(Model):
    data: list[ServiceOut]
    total_count: int
    offset: int
    limit: int


class RollbackIn(Body):
    deployment_id: str


class DeploymentOut(Model):
    id: Id
    service_id: Id
    project_id: Id
    status: Literal["pending", "building", "starting", "healthy", "superseded", "failed", "cancelled"]
    image: str | None
    source: ImageSourceM | GitSourceM
    commit_sha: str | None
    commit_message: str | None
    env_vars: dict[str, str]
    port: int | None
    command: list[str] | None
    replicas: int
    resources: ResourcesM
    volumes: list[VolumeM]
    health_check: HealthCheckM | None
    restart_policy: str
    failure_reason: str | None
    exit_code: int | None
    log_tail: str | None
    attempt_count: int
    rollback_of: Id | None
    created_by: Id | None
    created_at: datetime | None
    started_at: datetime | None
    healthy_at: datetime | None
    finished_at: datetime | None


class DeploymentPage(Model):
    data: list[DeploymentOut]
    total_count: int
    offset: int
    limit: int


class DeploymentLogOut(Model):
    deployment_id: Id
    status: str
    log: str


class ContainerOut(Model):
    id: str
    name: str
    project_id: Id
    service_id: Id
    deployment_id: Id
    replica_index: int
    state: str
    exit_code: int | None
    restart_count: int
    ip_address: str | None
    created_at: datetime | None
    updated_at: datetime | None


class ContainerList(Model):
    data: list[ContainerOut]


# --- env vars -----------------------------------------------------------------------------------


class EnvVarIn(Body):
    key: str
    value: str


class EnvVarUpdateIn(Body):
    value: str


class EnvVarOut(Model):
    id: Id
    scope: Literal["project", "group", "service"]
    scope_id: Id
    key: str
    value: str
    created_at: datetime | None
    updated_at: datetime | None


class EnvVarList(Model):
    data: list[EnvVarOut]


# --- pending changes ----------------------------------------------------------------------------


class PendingChangeOut(Model):
    id: Id
    project_id: Id
    kind: str
    payload: dict[str, Any]
    target_id: Id | None
    target_temp_id: Id | None
    before: dict[str, Any] | None
    created_by: Id | None
    created_at: datetime | None


class PendingChangeList(Model):
    data: list[PendingChangeOut]


class DiscardOut(Model):
    removed: list[Id]


class ApplyResultOut(Model):
    applied_count: int
    temp_id_to_service_id: dict[str, Id]
    created_deployments: list[Id]


# --- system -------------------------------------------------------------------------------------


class HealthServicesOut(Model):
    database: bool
    docker: bool
    ingress: bool


class HealthOut(Model):
    status: Literal["ok", "degraded"]
    version: str
    services: HealthServicesOut


class SystemAboutOut(Model):
    version: str
    python: str
    docker: dict[str, Any]
    database: dict[str, Any]
    ingress: dict[str, Any]


class SystemStatusOut(Model):
    host: dict[str, Any]
    docker: dict[str, Any]
    ingress: dict[str, Any]


class PresetOut(Model):
    id: str
    name: str
    description: str
    service_name: str
    config: dict[str, Any]
    service: dict[str, Any]
    """``config`` with the name: a ``ServiceCreateIn`` body."""
    env_vars: dict[str, str]
    connection_url: str


class PresetList(Model):
    data: list[PresetOut]


MAX_OFFSET = 1_000_000_000
"""SQLite's OFFSET is a 64-bit integer; a larger query value must be a 422, not an overflow."""


class Paging(Model):
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    limit: int = Field(default=20, ge=1, le=100)
