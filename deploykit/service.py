"""Services: what should run — source, port, command, replicas, resources, volumes, health check."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from deploykit.errors import FieldErrors
from deploykit.health import HealthCheck


class Unset:
    """Marks an update field that was not given (distinct from an explicit ``None``)."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset()


class SourceType(StrEnum):
    IMAGE = "image"
    GIT = "git"


class ServiceStatus(StrEnum):
    CREATED = "created"
    DEPLOYING = "deploying"
    DRAINING = "draining"
    """The new deployment serves; the old replicas get their drain period before they stop."""
    RUNNING = "running"
    DEGRADED = "degraded"
    FAILED = "failed"
    STOPPED = "stopped"


class RestartPolicy(StrEnum):
    NO = "no"
    ALWAYS = "always"
    UNLESS_STOPPED = "unless-stopped"
    ON_FAILURE = "on-failure"


SERVICE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
# name[:tag][@digest], with an optional registry host: a first component with a dot or a port, or
# 'localhost' (Docker's own rule; otherwise it is part of the repository path).
IMAGE_RE = re.compile(
    r"^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?/|[a-zA-Z0-9-]+:[0-9]+/)?"
    r"[a-z0-9]+(?:[._-]{1,2}[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]{1,2}[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
GIT_SSH_RE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^\s]+$")
GIT_URL_RE = re.compile(r"^(?:https?|ssh|git|file)://[^\s]+$")
BRANCH_RE = re.compile(r"^(?!/|.*//|.*\.\.|.*@\{|.*\.lock$)[A-Za-z0-9._/-]{1,200}$")
VOLUME_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_REPLICAS = 20


@dataclass(frozen=True)
class ImageSource:
    image: str
    type: SourceType = SourceType.IMAGE

    def validate(self, errors: FieldErrors) -> None:
        if len(self.image) > 255 or not IMAGE_RE.match(self.image):
            errors.add("source.image", "must be an image reference such as 'nginx:1.27' or 'ghcr.io/acme/api:1.4'")


@dataclass(frozen=True)
class GitSource:
    repo_url: str
    branch: str = "main"
    dockerfile_path: str = "Dockerfile"
    context: str = "."
    type: SourceType = SourceType.GIT

    def validate(self, errors: FieldErrors) -> None:
        url = self.repo_url
        if not (GIT_URL_RE.match(url) or GIT_SSH_RE.match(url) or (url.startswith("/") and " " not in url)):
            errors.add(
                "source.repo_url",
                "must be an https://, ssh://, git@host:path, file:// URL or an absolute path",
            )
        if not BRANCH_RE.match(self.branch):
            errors.add("source.branch", "must be a valid git branch name")
        for name, value in (("dockerfile_path", self.dockerfile_path), ("context", self.context)):
            if not value or value.startswith("/") or ".." in value.split("/"):
                errors.add(f"source.{name}", "must be a relative path inside the repository")


Source = ImageSource | GitSource


def source_from_dict(data: dict[str, Any]) -> Source:
    """Parse the API/JSON form of a source. Raises ``invalid`` with the field on bad input."""
    errors = FieldErrors()
    kind = data.get("type")
    if kind == SourceType.IMAGE:
        image = data.get("image")
        if not isinstance(image, str) or not image:
            errors.add("source.image", "is required")
            errors.raise_if_any()
        return ImageSource(image=str(image))
    if kind == SourceType.GIT:
        url = data.get("repo_url")
        if not isinstance(url, str) or not url:
            errors.add("source.repo_url", "is required")
            errors.raise_if_any()
        return GitSource(
            repo_url=str(url),
            branch=str(data.get("branch") or "main"),
            dockerfile_path=str(data.get("dockerfile_path") or "Dockerfile"),
            context=str(data.get("context") or "."),
        )
    errors.add("source.type", "must be 'image' or 'git'")
    errors.raise_if_any()
    raise AssertionError("unreachable")


def source_to_dict(source: Source) -> dict[str, Any]:
    if isinstance(source, ImageSource):
        return {"type": "image", "image": source.image}
    return {
        "type": "git",
        "repo_url": source.repo_url,
        "branch": source.branch,
        "dockerfile_path": source.dockerfile_path,
        "context": source.context,
    }


@dataclass(frozen=True)
class Resources:
    cpus: float | None = None
    memory_mb: int | None = None

    def validate(self, errors: FieldErrors) -> None:
        if self.cpus is not None and not 0.01 <= self.cpus <= 256:
            errors.add("resources.cpus", "must be between 0.01 and 256")
        if self.memory_mb is not None and not 6 <= self.memory_mb <= 1_048_576:
            errors.add("resources.memory_mb", "must be between 6 and 1048576")

    def to_dict(self) -> dict[str, Any]:
        return {"cpus": self.cpus, "memory_mb": self.memory_mb}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Resources:
        data = data or {}
        cpus, mem = data.get("cpus"), data.get("memory_mb")
        return cls(cpus=None if cpus is None else float(cpus), memory_mb=None if mem is None else int(mem))


@dataclass(frozen=True)
class Volume:
    name: str
    mount_path: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mount_path": self.mount_path}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Volume:
        return cls(name=str(data.get("name", "")), mount_path=str(data.get("mount_path", "")))


def validate_volumes(volumes: list[Volume], errors: FieldErrors) -> None:
    names: set[str] = set()
    paths: set[str] = set()
    for i, vol in enumerate(volumes):
        if not VOLUME_NAME_RE.match(vol.name):
            errors.add(f"volumes.{i}.name", "must be 1-40 lowercase letters, digits, '-' or '_'")
        elif vol.name in names:
            errors.add(f"volumes.{i}.name", "is used twice")
        names.add(vol.name)
        path = vol.mount_path
        if not path.startswith("/") or path == "/" or ".." in path.split("/") or "\x00" in path or ":" in path:
            errors.add(f"volumes.{i}.mount_path", "must be an absolute path other than '/'")
        elif path.rstrip("/") in paths:
            errors.add(f"volumes.{i}.mount_path", "is used twice")
        paths.add(path.rstrip("/"))


def name_key(name: str) -> str:
    """Service names are unique per project regardless of case."""
    return name.casefold()


def conflict_message(name: str) -> str:
    return f"A service named '{name}' already exists in this project."


def validate_service_name(name: str, errors: FieldErrors, field_name: str = "name") -> None:
    if not name or not name.strip():
        errors.add(field_name, "must not be empty")
    elif not SERVICE_NAME_RE.match(name):
        errors.add(field_name, "must start with a letter and use only letters, digits, '-' or '_' (at most 63)")


@dataclass(frozen=True)
class ServiceConfig:
    """The deploy-impacting configuration of a service; a deployment snapshots it."""

    source: Source
    port: int | None = None
    command: list[str] | None = None
    replicas: int = 1
    resources: Resources = field(default_factory=Resources)
    volumes: list[Volume] = field(default_factory=list)
    health_check: HealthCheck | None = None
    restart_policy: RestartPolicy = RestartPolicy.UNLESS_STOPPED

    def validate(self, errors: FieldErrors) -> None:
        self.source.validate(errors)
        if self.port is not None and not 1 <= self.port <= 65535:
            errors.add("port", "must be between 1 and 65535")
        if self.command is not None and (
            not self.command or not all(isinstance(a, str) and "\x00" not in a for a in self.command)
        ):
            errors.add("command", "must be a non-empty list of strings or null")
        if not 1 <= self.replicas <= MAX_REPLICAS:
            errors.add("replicas", f"must be between 1 and {MAX_REPLICAS}")
        self.resources.validate(errors)
        validate_volumes(self.volumes, errors)
        if self.health_check is not None:
            self.health_check.validate(errors)
            if self.port is None:
                errors.add("health_check", "needs a port to check")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": source_to_dict(self.source),
            "port": self.port,
            "command": list(self.command) if self.command is not None else None,
            "replicas": self.replicas,
            "resources": self.resources.to_dict(),
            "volumes": [v.to_dict() for v in self.volumes],
            "health_check": self.health_check.to_dict() if self.health_check else None,
            "restart_policy": self.restart_policy.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceConfig:
        """Parse the JSON form; raises ``invalid`` naming the field for malformed values."""
        errors = FieldErrors()
        source = source_from_dict(data.get("source") or {})
        try:
            policy = RestartPolicy(data.get("restart_policy") or RestartPolicy.UNLESS_STOPPED)
        except ValueError:
            errors.add("restart_policy", "must be one of " + ", ".join(p.value for p in RestartPolicy))
            policy = RestartPolicy.UNLESS_STOPPED
        try:
            hc = data.get("health_check")
            health = HealthCheck.from_dict(hc) if hc else None
        except (TypeError, ValueError):
            errors.add("health_check", "is malformed")
            health = None
        errors.raise_if_any()
        port = data.get("port")
        return cls(
            source=source,
            port=None if port is None else int(port),
            command=list(data["command"]) if data.get("command") is not None else None,
            replicas=int(data["replicas"]) if data.get("replicas") is not None else 1,
            resources=Resources.from_dict(data.get("resources")),
            volumes=[Volume.from_dict(v) for v in data.get("volumes") or []],
            health_check=health,
            restart_policy=policy,
        )

    @property
    def rolls_stop_first(self) -> bool:
        """Volumes must not have two writers: such services stop the old replicas first."""
        return bool(self.volumes) or self.port is None


@dataclass
class Service:
    id: str
    project_id: str
    name: str
    slug: str
    config: ServiceConfig
    status: ServiceStatus = ServiceStatus.CREATED
    active_deployment_id: str | None = None
    group_id: str | None = None
    stopped: bool = False
    drain_s: float = 10.0
    public: bool = True
    """False: no generated public domain (a database); other services still reach it by name."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    volume_names: dict[str, str] = field(default_factory=dict)
    """Engine names recorded for volumes made before names were unambiguous (see ``runtime.volume_name``)."""
    deployed_config: ServiceConfig | None = None
    """The config of the deployment rolling out, else of the active one (read by ``get_service``
    and ``list_services``; ``drift.config_drift`` compares it with ``config``)."""
    last_deployment_status: str | None = None
    """The status of the service's newest deployment (``failed``: the last deploy failed)."""
    preview_of: str | None = None
    """A hidden service that runs a pull-request preview: the previewed service's id
    (``deploykit.preview``); its builds clone with that service's deploy key and known hosts."""
    env: dict[str, str] | None = None
    """The variables a deployment of the service would get now, resolved (read with
    ``deployed_config``; ``drift.env_drift`` compares them with ``deployed_env``)."""
    deployed_env: dict[str, str] | None = None
    """The resolved variables of the deployment ``deployed_config`` is from."""


@dataclass(frozen=True)
class ServiceCreate:
    project_id: str
    name: str
    config: ServiceConfig
    group_id: str | None = None

    def validate(self) -> None:
        errors = FieldErrors()
        validate_service_name(self.name, errors)
        self.config.validate(errors)
        errors.raise_if_any()


@dataclass(frozen=True)
class ServiceUpdate:
    """A partial update; ``UNSET`` (or ``None`` for non-nullable fields) leaves a field as it is."""

    name: str | None = None
    source: Source | None = None
    port: int | Unset | None = UNSET
    command: list[str] | Unset | None = UNSET
    replicas: int | None = None
    resources: Resources | None = None
    volumes: list[Volume] | None = None
    health_check: HealthCheck | Unset | None = UNSET
    restart_policy: RestartPolicy | None = None
    group_id: str | Unset | None = UNSET
    drain_s: float | None = None

    def apply_to(self, config: ServiceConfig) -> ServiceConfig:
        """The config with this update's deploy-impacting fields laid over it."""
        return ServiceConfig(
            source=self.source if self.source is not None else config.source,
            port=config.port if isinstance(self.port, Unset) else self.port,
            command=config.command if isinstance(self.command, Unset) else self.command,
            replicas=self.replicas if self.replicas is not None else config.replicas,
            resources=self.resources if self.resources is not None else config.resources,
            volumes=self.volumes if self.volumes is not None else config.volumes,
            health_check=config.health_check if isinstance(self.health_check, Unset) else self.health_check,
            restart_policy=self.restart_policy if self.restart_policy is not None else config.restart_policy,
        )

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that were given, in JSON form (a pending change's payload)."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.source is not None:
            out["source"] = source_to_dict(self.source)
        if not isinstance(self.port, Unset):
            out["port"] = self.port
        if not isinstance(self.command, Unset):
            out["command"] = self.command
        if self.replicas is not None:
            out["replicas"] = self.replicas
        if self.resources is not None:
            out["resources"] = self.resources.to_dict()
        if self.volumes is not None:
            out["volumes"] = [v.to_dict() for v in self.volumes]
        if not isinstance(self.health_check, Unset):
            out["health_check"] = self.health_check.to_dict() if self.health_check else None
        if self.restart_policy is not None:
            out["restart_policy"] = self.restart_policy.value
        if not isinstance(self.group_id, Unset):
            out["group_id"] = self.group_id
        if self.drain_s is not None:
            out["drain_s"] = self.drain_s
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceUpdate:
        hc = data.get("health_check", UNSET)
        return cls(
            name=data.get("name"),
            source=source_from_dict(data["source"]) if data.get("source") else None,
            port=data.get("port", UNSET),
            command=data.get("command", UNSET),
            replicas=data.get("replicas"),
            resources=Resources.from_dict(data["resources"]) if data.get("resources") is not None else None,
            volumes=[Volume.from_dict(v) for v in data["volumes"]] if data.get("volumes") is not None else None,
            health_check=hc if isinstance(hc, Unset) or hc is None else HealthCheck.from_dict(hc),
            restart_policy=RestartPolicy(data["restart_policy"]) if data.get("restart_policy") else None,
            group_id=data.get("group_id", UNSET),
            drain_s=data.get("drain_s"),
        )


@dataclass(frozen=True)
class ServiceFilter:
    project_id: str | None = None
    id: str | None = None
    name: str | None = None
    include_previews: bool = False
    """Also the hidden services that run pull-request previews (the reconciler's view)."""
    with_env: bool = False
    """Also resolve each service's variables now (``Service.env``, for drift): what the API shows;
    the reconciler, which lists every service on each resync, has no use for it."""
    offset: int = 0
    limit: int = 100


class ServiceService(Protocol):
    """Applied services. Creation and deploy-impacting edits go through pending changes; the
    methods here are for reads, for the store's own apply, and for runtime bookkeeping."""

    async def get_service(self, id: str) -> Service:
        """Raises ``not_found``."""
        ...

    async def list_services(self, filt: ServiceFilter) -> tuple[list[Service], int]:
        """Services ordered by name, and the total before offset/limit."""
        ...

    async def set_service_status(self, id: str, status: ServiceStatus) -> Service:
        """Record the observed status; publishes ``service.status.changed`` when it changed.
        Raises ``not_found``."""
        ...

    async def set_service_stopped(self, id: str, stopped: bool) -> Service:
        """Record the user's wish that the service stay stopped (kept across restarts); publishes
        ``service.stopped`` or ``service.started``, which the reconciler acts on. Raises ``not_found``."""
        ...
