"""Pydantic models of the API's request bodies and query strings, which the handlers validate with.

The OpenAPI document is generated from these same classes, so the contract cannot drift from what
the handlers accept. Business validation (names, image references, ports...) stays in the domain's
``validate()``; these models check only types and shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Every request model of the API. Each is built on first use (``defer_build``): building them
    all at import would cost the idle daemon memory for models few requests use. The response
    shapes are in ``shapes``."""

    model_config = ConfigDict(defer_build=True)


class Body(Model):
    # No NaN or infinity from strings such as "Infinity": a stored one breaks every response carrying it.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


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


class APIKeyIn(Body):
    description: str = Field(max_length=200)
    expires_at: datetime | None = None


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


# --- projects -----------------------------------------------------------------------------------


class ProjectIn(Body):
    name: str


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
    public: bool = True
    """False: no generated public domain; other services of the project still reach it by name."""


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


class RollbackIn(Body):
    deployment_id: str


# --- env vars -----------------------------------------------------------------------------------


class EnvVarIn(Body):
    key: str
    value: str


class EnvVarUpdateIn(Body):
    value: str


class EnvEditIn(Body):
    """Set and unset variables of a scope in one go. ``dotenv``: ``.env`` text whose variables
    are set too (``values`` win over it); ``replace``: unset every variable of the scope not set
    here; ``dry_run``: only say what would change."""

    values: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)
    dotenv: str | None = Field(default=None, max_length=256 * 1024)
    replace: bool = False
    dry_run: bool = False


# --- paging -------------------------------------------------------------------------------------


MAX_OFFSET = 1_000_000_000
"""SQLite's OFFSET is a 64-bit integer; a larger query value must be a 422, not an overflow."""


class Paging(Model):
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    limit: int = Field(default=20, ge=1, le=100)


# --- compose import -------------------------------------------------------------------------------


class ComposeImportIn(Body):
    compose: str = Field(max_length=256 * 1024)
    """The compose file's YAML text."""
    repo_url: str | None = None
    """The repository ``build`` sections build from (a git source per built service)."""
    branch: str = "main"
    dry_run: bool = False
    """Answer what would be staged without staging it."""
