"""Deployments: immutable snapshots of everything needed to run one version of a service.

Lifecycle::

    pending -> building (git only) -> starting -> healthy -> superseded
          \\-> failed, cancelled (from pending, building or starting)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from deploykit.errors import INVALID, Error
from deploykit.service import GitSource, Service, ServiceConfig

LOG_TAIL_BYTES = 10 * 1024


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    STARTING = "starting"
    HEALTHY = "healthy"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeploymentTrigger(StrEnum):
    """Who or what asked for a deployment, as its card says."""

    DEPLOY = "deploy"
    """A user applied staged changes."""
    REDEPLOY = "redeploy"
    WEBHOOK = "webhook"
    ROLLBACK = "rollback"
    RETRY = "retry"


S = DeploymentStatus
TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    S.PENDING: frozenset({S.BUILDING, S.STARTING, S.FAILED, S.CANCELLED}),
    S.BUILDING: frozenset({S.STARTING, S.FAILED, S.CANCELLED}),
    S.STARTING: frozenset({S.HEALTHY, S.FAILED, S.CANCELLED}),
    S.HEALTHY: frozenset({S.SUPERSEDED}),
    S.SUPERSEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
IN_FLIGHT = frozenset({S.PENDING, S.BUILDING, S.STARTING})
FINISHED = frozenset({S.HEALTHY, S.SUPERSEDED, S.FAILED, S.CANCELLED})


def can_transition(current: DeploymentStatus, target: DeploymentStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: DeploymentStatus, target: DeploymentStatus) -> None:
    """Raises ``invalid`` when the lifecycle does not allow ``current -> target``."""
    if not can_transition(current, target):
        raise Error(INVALID, f"A deployment cannot go from {current.value} to {target.value}.")


def clip_log(text: str, limit: int = LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``text``, cut at a line boundary where possible."""
    data = text.encode()
    if len(data) <= limit:
        return text
    tail = data[-limit:].decode(errors="ignore")
    newline = tail.find("\n")
    return tail[newline + 1 :] if 0 <= newline < len(tail) - 1 else tail


@dataclass
class Deployment:
    id: str
    service_id: str
    project_id: str
    status: DeploymentStatus
    config: ServiceConfig
    env_vars: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    commit_sha: str | None = None
    commit_message: str | None = None
    failure_reason: str | None = None
    exit_code: int | None = None
    log_tail: str | None = None
    attempt_count: int = 0
    rollback_of: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    healthy_at: datetime | None = None
    finished_at: datetime | None = None
    was_healthy: bool = False
    trigger: DeploymentTrigger = DeploymentTrigger.DEPLOY
    changes: tuple[str, ...] = ()
    """What changed against the service's previous deployment (``drift.change_summary``)."""
    actor: str | None = None
    """Who asked for it, as recorded then: a user's name, ``API key <description>``, ``GitHub webhook``;
    None for deployments made before it was recorded (``created_by`` is the user's id)."""
    service_env: dict[str, str] | None = None
    """The service's own variables as written (references unresolved) when it was created: a
    rollback, or Revert to running, puts them back. None for deployments made before this was kept."""

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    @property
    def short_id(self) -> str:
        return self.id.replace("-", "")[:8]


def reusable_build(running: Deployment | None, config: ServiceConfig) -> Deployment | None:
    """The deployment whose built image a new deployment of ``config`` runs as is: a git service
    whose source (repository, branch, Dockerfile, context) is the running deployment's keeps
    that deployment's commit and image, so that a change to its health check, replicas, env or
    limits starts in seconds instead of building again. A new commit comes from Redeploy or a
    push webhook, which always build. None when a build is needed."""
    if running is None or not isinstance(config.source, GitSource):
        return None
    if running.config.source != config.source or not running.image or not running.commit_sha:
        return None
    return running


@dataclass(frozen=True)
class DeploymentCreate:
    service_id: str
    config: ServiceConfig
    env_vars: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    commit_sha: str | None = None
    commit_message: str | None = None
    created_by: str | None = None
    rollback_of: str | None = None
    trigger: DeploymentTrigger = DeploymentTrigger.DEPLOY
    actor: str | None = None


@dataclass(frozen=True)
class DeploymentFilter:
    service_id: str | None = None
    project_id: str | None = None
    statuses: frozenset[DeploymentStatus] | None = None
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True)
class DeploymentLog:
    """A deployment's stored build/start log as one read saw it, and where it ends.

    ``end`` counts every character ever appended to the log; clipping drops old text from
    ``text`` but never lowers ``end``, so ``text`` holds positions ``end - len(text)`` to ``end``.
    Each append publishes a ``build.log`` event whose ``start`` and ``end`` are on this scale: a
    live reader reads the log after subscribing and skips the events that end at or before it."""

    text: str
    end: int


@dataclass(frozen=True)
class DeploymentFailure:
    reason: str
    exit_code: int | None = None
    log_tail: str | None = None


class DeploymentService(Protocol):
    async def get_deployment(self, id: str) -> Deployment:
        """Raises ``not_found``."""
        ...

    async def list_deployments(self, filt: DeploymentFilter) -> tuple[list[Deployment], int]:
        """Newest first."""
        ...

    async def create_deployment(self, create: DeploymentCreate) -> Deployment:
        """Create a ``pending`` deployment and cancel the service's older in-flight ones.
        Publishes ``deployment.created`` (and ``deployment.cancelled``). Raises ``not_found``."""
        ...

    async def redeploy(
        self,
        service_id: str,
        created_by: str | None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
        trigger: DeploymentTrigger = DeploymentTrigger.REDEPLOY,
        actor: str | None = None,
    ) -> Deployment:
        """A new deployment from the service's current config with freshly resolved env; for a git
        source, pinned to ``commit_sha`` when given (a push webhook), else the branch head.
        ``actor`` is who asked, as the deployment card says (``auth.actor_name``).
        Raises ``not_found``, ``conflict`` (the service was never deployed)."""
        ...

    async def rollback(
        self, service_id: str, deployment_id: str, created_by: str | None, actor: str | None = None
    ) -> Deployment:
        """A new deployment that copies ``deployment_id``'s snapshot (image included) and goes
        through the readiness gate again. The service's config, and its own variables where the
        snapshot kept them, become the snapshot's, so that what is configured is what runs and a
        later unrelated deploy keeps the rolled-back version. Raises ``not_found``, ``invalid``
        (never healthy)."""
        ...

    async def retry(
        self, service_id: str, deployment_id: str, created_by: str | None, actor: str | None = None
    ) -> Deployment:
        """A new deployment that copies a failed (or cancelled) deployment's snapshot and goes
        through the build and readiness gate again. Raises ``not_found``, ``invalid`` (not failed
        or cancelled)."""
        ...

    async def revert_config(self, service_id: str) -> Service:
        """Make the service's config, and its own variables where the deployment kept them, those
        of the deployment it runs (dropping settings that failed to deploy); no new deployment.
        Raises ``not_found``, ``conflict`` (nothing runs)."""
        ...

    async def mark_building(self, id: str) -> Deployment:
        """Raises ``not_found``, ``invalid`` (illegal transition)."""
        ...

    async def mark_starting(
        self,
        id: str,
        image: str | None = None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
    ) -> Deployment:
        """Record the image to run (the built tag for git sources). Raises ``not_found``, ``invalid``."""
        ...

    async def mark_healthy(self, id: str) -> Deployment:
        """Supersede the previous active deployment and point the service at this one.
        Raises ``not_found``, ``invalid``."""
        ...

    async def mark_failed(self, id: str, failure: DeploymentFailure) -> Deployment:
        """Record the reason, exit code and last 10 KB of log. Raises ``not_found``, ``invalid``."""
        ...

    async def mark_cancelled(self, id: str) -> Deployment:
        """Raises ``not_found``, ``invalid``."""
        ...

    async def record_attempt(self, id: str) -> Deployment:
        """Count one more start attempt. Raises ``not_found``."""
        ...

    async def append_log(self, id: str, text: str) -> None:
        """Append whole lines (each ending in a newline) to the deployment's stored build/start
        log. Publishes ``build.log`` after commit, payload ``{deployment_id, line, start, end}``:
        ``line`` is ``text`` without its final newline, ``start``/``end`` its positions (see
        ``DeploymentLog``). Raises ``not_found``."""
        ...

    async def get_log(self, id: str) -> str:
        """The whole stored build/start log. Raises ``not_found``."""
        ...

    async def read_log(self, id: str) -> DeploymentLog:
        """The stored build/start log and its end position, read together. Raises ``not_found``."""
        ...
