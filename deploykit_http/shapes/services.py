"""Projects, services (with the configuration a deployment snapshots), deployments, containers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from typing_extensions import TypedDict

from deploykit.container import ContainerRecord
from deploykit.deployment import Deployment, DeploymentStatus, DeploymentTrigger
from deploykit.drift import service_drift
from deploykit.health import HealthCheck, HealthCheckType
from deploykit.ingress import generated_hostname
from deploykit.project import Project
from deploykit.repository import redact_url
from deploykit.service import ImageSource, RestartPolicy, Service, ServiceConfig, ServiceStatus, Source


class ProjectOut(TypedDict):
    id: str
    name: str
    slug: str
    created_at: datetime | None
    updated_at: datetime | None


def project_out(p: Project) -> ProjectOut:
    return {
        "id": p.id,
        "name": p.name,
        "slug": p.slug,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


class ProjectPage(TypedDict):
    data: list[ProjectOut]
    total_count: int
    offset: int
    limit: int


# --- service configuration ------------------------------------------------------------------------


class ImageSourceOut(TypedDict):
    type: Literal["image"]
    image: str


class GitSourceOut(TypedDict):
    type: Literal["git"]
    repo_url: str
    branch: str
    dockerfile_path: str
    context: str


def source_out(s: Source) -> ImageSourceOut | GitSourceOut:
    if isinstance(s, ImageSource):
        return {"type": "image", "image": s.image}
    return {
        "type": "git",
        "repo_url": redact_url(s.repo_url),  # credentials in the URL are never shown
        "branch": s.branch,
        "dockerfile_path": s.dockerfile_path,
        "context": s.context,
    }


class ResourcesOut(TypedDict):
    cpus: float | None
    memory_mb: int | None


class VolumeOut(TypedDict):
    name: str
    mount_path: str


class HealthCheckOut(TypedDict):
    type: HealthCheckType
    path: str
    interval_s: float
    timeout_s: float
    healthy_threshold: int
    unhealthy_threshold: int
    start_period_s: float


def health_check_out(h: HealthCheck | None) -> HealthCheckOut | None:
    if h is None:
        return None
    return {
        "type": h.type,
        "path": h.path,
        "interval_s": h.interval_s,
        "timeout_s": h.timeout_s,
        "healthy_threshold": h.healthy_threshold,
        "unhealthy_threshold": h.unhealthy_threshold,
        "start_period_s": h.start_period_s,
    }


class ConfigOut(TypedDict):
    """What a deployment snapshots of a service; a service and a deployment both carry it."""

    source: ImageSourceOut | GitSourceOut
    port: int | None
    command: list[str] | None
    replicas: int
    resources: ResourcesOut
    volumes: list[VolumeOut]
    health_check: HealthCheckOut | None
    restart_policy: RestartPolicy


class DriftOut(TypedDict):
    field: str
    """Dotted for a nested field: ``source.image``, ``health_check.path``."""
    running: Any
    config: Any


class ServiceOut(ConfigOut):
    id: str
    project_id: str
    name: str
    slug: str
    status: ServiceStatus
    active_deployment_id: str | None
    group_id: str | None
    stopped: bool
    public: bool
    """False: no generated public domain (a database from a preset)."""
    domains: list[str]
    drain_s: float
    rollout: Literal["start-first", "stop-first"]
    """stop-first for services with volumes (or no port): the old replicas stop before the new start."""
    drift: list[DriftOut]
    """Each config field that differs from the deployment the service runs (or rolls out to):
    a deploy that failed leaves the config the user asked for; then each variable whose resolved
    value differs, as ``env.KEY`` (running or config null: the variable is not there). Empty when
    they agree."""
    last_deployment_status: DeploymentStatus | None
    """The status of the newest deployment (``failed``: the last deploy failed)."""
    created_at: datetime | None
    updated_at: datetime | None


def service_out(s: Service, project_slug: str | None = None, base_domain: str | None = None) -> ServiceOut:
    c = s.config
    domains: list[str] = []
    if c.port is not None and project_slug and base_domain:
        domains.append(generated_hostname(s.slug, project_slug, base_domain))
    return {
        "id": s.id,
        "project_id": s.project_id,
        "name": s.name,
        "slug": s.slug,
        **config_out(c),
        "status": s.status,
        "active_deployment_id": s.active_deployment_id,
        "group_id": s.group_id,
        "stopped": s.stopped,
        "public": s.public,
        "domains": domains,
        "drain_s": s.drain_s,
        "rollout": "stop-first" if c.rolls_stop_first else "start-first",
        "drift": [
            {"field": d.field, "running": d.before, "config": d.after}
            for d in service_drift(c, s.deployed_config, s.env, s.deployed_env)
        ],
        "last_deployment_status": DeploymentStatus(s.last_deployment_status) if s.last_deployment_status else None,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def config_out(c: ServiceConfig) -> ConfigOut:
    return {
        "source": source_out(c.source),
        "port": c.port,
        "command": c.command,
        "replicas": c.replicas,
        "resources": {"cpus": c.resources.cpus, "memory_mb": c.resources.memory_mb},
        "volumes": [{"name": v.name, "mount_path": v.mount_path} for v in c.volumes],
        "health_check": health_check_out(c.health_check),
        "restart_policy": c.restart_policy,
    }


class ServicePage(TypedDict):
    data: list[ServiceOut]
    total_count: int
    offset: int
    limit: int


# --- deployments and containers -------------------------------------------------------------------


class DeploymentOut(ConfigOut):
    id: str
    service_id: str
    project_id: str
    status: DeploymentStatus
    image: str | None
    commit_sha: str | None
    commit_message: str | None
    env_vars: dict[str, str]
    failure_reason: str | None
    exit_code: int | None
    log_tail: str | None
    attempt_count: int
    rollback_of: str | None
    created_by: str | None
    actor: str | None
    """Who asked for it, as recorded then: a user's name, ``API key <description>``, ``GitHub webhook``;
    null for deployments older than the record."""
    trigger: DeploymentTrigger
    """deploy (staged changes applied), redeploy, webhook, rollback or retry."""
    changes: list[str]
    """What changed against the service's previous deployment, one short line each."""
    created_at: datetime | None
    started_at: datetime | None
    healthy_at: datetime | None
    finished_at: datetime | None


def deployment_out(d: Deployment) -> DeploymentOut:
    return {
        "id": d.id,
        "service_id": d.service_id,
        "project_id": d.project_id,
        "status": d.status,
        "image": d.image,
        **config_out(d.config),
        "commit_sha": d.commit_sha,
        "commit_message": d.commit_message,
        "env_vars": d.env_vars,
        "failure_reason": d.failure_reason,
        "exit_code": d.exit_code,
        "log_tail": d.log_tail,
        "attempt_count": d.attempt_count,
        "rollback_of": d.rollback_of,
        "created_by": d.created_by,
        "actor": d.actor,
        "trigger": d.trigger,
        "changes": list(d.changes),
        "created_at": d.created_at,
        "started_at": d.started_at,
        "healthy_at": d.healthy_at,
        "finished_at": d.finished_at,
    }


class DeploymentPage(TypedDict):
    data: list[DeploymentOut]
    total_count: int
    offset: int
    limit: int


class DeploymentLogOut(TypedDict):
    deployment_id: str
    status: DeploymentStatus
    log: str


class ContainerOut(TypedDict):
    id: str
    name: str
    project_id: str
    service_id: str
    deployment_id: str
    replica_index: int
    state: str
    """The engine's state (running, exited...), or ``missing`` when the engine no longer has it."""
    exit_code: int | None
    restart_count: int
    ip_address: str | None
    created_at: datetime | None
    updated_at: datetime | None


def container_out(c: ContainerRecord) -> ContainerOut:
    return {
        "id": c.id,
        "name": c.name,
        "project_id": c.project_id,
        "service_id": c.service_id,
        "deployment_id": c.deployment_id,
        "replica_index": c.replica_index,
        "state": c.state,
        "exit_code": c.exit_code,
        "restart_count": c.restart_count,
        "ip_address": c.ip_address,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


class ContainerList(TypedDict):
    data: list[ContainerOut]
