"""The container runtime: what the reconciler needs from Docker (or Swarm), plus DeployKit's
naming and labelling rules. Nothing unlabelled is ever touched."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

LABEL_MANAGED_BY = "managed-by"
MANAGED_BY = "deploykit"
LABEL_PROJECT_ID = "deploykit.project-id"
LABEL_SERVICE_ID = "deploykit.service-id"
LABEL_DEPLOYMENT_ID = "deploykit.deployment-id"
LABEL_REPLICA_INDEX = "deploykit.replica-index"
LABEL_INSTANCE = "deploykit.instance"
"""Set on everything a DeployKit installation with an instance id creates, so that several
installations (or test suites) can share one engine without sweeping each other's objects."""


def short(id: str, n: int) -> str:
    return id.replace("-", "")[:n]


# Engine names join their parts with "_", which no slug contains (slugs are [a-z0-9-]): read from the
# left, the first underscores are the separators, so service "db" with volume "x-data" and service
# "db-x" with volume "data" can never name the same object. A project's slug alone names its network.
SEP = "_"


def network_name(project_slug: str) -> str:
    return f"dk-{project_slug}"


def container_name(project_slug: str, service_slug: str, replica: int, deployment_id: str, generation: int = 1) -> str:
    """A replica's container; its replacement, made while the one it replaces still holds the name,
    is generation 2 (``..._2``), and so on."""
    parts = ["dk", project_slug, service_slug, str(replica), short(deployment_id, 8)]
    return SEP.join(parts if generation == 1 else [*parts, str(generation)])


def volume_name(project_slug: str, service_slug: str, volume: str, recorded: Mapping[str, str] | None = None) -> str:
    """The engine name of a service's volume: the one ``recorded`` for it (a volume made before
    names were unambiguous keeps its name, as Docker cannot rename one), else ``dk_<p>_<s>_<v>``."""
    if recorded and volume in recorded:
        return recorded[volume]
    return SEP.join(["dk", project_slug, service_slug, volume])


IMAGE_NAMESPACE = "deploykit"
# One path component of an image name, as the engine accepts it.
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_BUILT_RE = re.compile(r"^deploykit/(?:[a-z0-9._-]+/)?[a-z0-9-]+_[a-z0-9-]+:[0-9a-f]{12}$")
BUILT_TAG_RE = re.compile(r"^[0-9a-f]{12}$")
"""The tag of a built image: its deployment id's first 12 hex digits."""


def image_root(instance_id: str | None = None) -> str:
    """Where an installation's built images are named: ``deploykit/``, or ``deploykit/<instance>/``
    with an instance id (an id that is no valid name component is replaced by a digest of it).

    Built images carry no label (the classic builder pays a container and a commit for one): their
    name says whose they are. A project slug ends in a random suffix and no slug contains ``_``,
    so ``<root><project-slug>_`` names one project's images, and another installation's never."""
    if instance_id is None:
        return f"{IMAGE_NAMESPACE}/"
    component = (
        instance_id if _COMPONENT_RE.match(instance_id) else "i" + hashlib.sha256(instance_id.encode()).hexdigest()[:16]
    )
    return f"{IMAGE_NAMESPACE}/{component}/"


def image_tag(project_slug: str, service_slug: str, deployment_id: str, instance_id: str | None = None) -> str:
    return f"{image_repository(project_slug, service_slug, instance_id)}:{short(deployment_id, 12)}"


def image_repository(project_slug: str, service_slug: str, instance_id: str | None = None) -> str:
    """The repository of a service's built images (``image_tag`` without its tag)."""
    return f"{image_root(instance_id)}{project_slug}{SEP}{service_slug}"


def built_images(instance_id: str | None = None) -> str:
    """The engine's ``reference`` pattern of every image the installation built (``*`` never
    crosses a ``/``: another installation's namespace is not in it)."""
    return f"{image_root(instance_id)}*{SEP}*:{'[0-9a-f]' * 12}"


def built_image(name: str) -> bool:
    """Whether ``name`` (``repository:tag``) is named as DeployKit names the images it builds."""
    return _BUILT_RE.match(name) is not None


def managed_labels(**extra: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, **extra}


def volume_labels(project_id: str, service_id: str) -> dict[str, str]:
    return managed_labels(**{LABEL_PROJECT_ID: project_id, LABEL_SERVICE_ID: service_id})


def container_labels(project_id: str, service_id: str, deployment_id: str, replica: int) -> dict[str, str]:
    return managed_labels(
        **{
            LABEL_PROJECT_ID: project_id,
            LABEL_SERVICE_ID: service_id,
            LABEL_DEPLOYMENT_ID: deployment_id,
            LABEL_REPLICA_INDEX: str(replica),
        }
    )


@dataclass(frozen=True)
class VolumeMount:
    volume: str
    """The Docker volume name."""
    mount_path: str


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    labels: dict[str, str]
    network: str
    aliases: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    port: int | None = None
    cpus: float | None = None
    memory_mb: int | None = None
    restart_policy: str = "unless-stopped"
    volumes: list[VolumeMount] = field(default_factory=list)
    stop_grace_s: float = 10.0


@dataclass(frozen=True)
class ContainerState:
    """What Docker says about one managed container."""

    id: str
    name: str
    labels: dict[str, str]
    state: str
    """created, running, restarting, paused, exited, dead, removing."""
    image: str = ""
    exit_code: int | None = None
    restart_count: int = 0
    ip_address: str | None = None
    """Where the replica is reached: the container's address on its network (one engine), or the
    address of the node it runs on (a swarm, with ``ports``)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    oom_killed: bool = False
    ports: dict[int, int] = field(default_factory=dict)
    """Container port -> the port at ``ip_address`` that reaches it, where they differ (a port
    published on the node: the Swarm runtime). Empty: the container's own ports."""

    @property
    def running(self) -> bool:
        return self.state == "running"

    def port_for(self, port: int) -> int:
        """The port at ``ip_address`` that reaches the container's ``port``."""
        return self.ports.get(port, port)

    def endpoint(self, port: int) -> str | None:
        """``address:port`` that reaches the container's ``port`` (Caddy's upstream, the probes'
        target), or None while it has no address."""
        return f"{self.ip_address}:{self.port_for(port)}" if self.ip_address else None

    @property
    def project_id(self) -> str | None:
        return self.labels.get(LABEL_PROJECT_ID)

    @property
    def service_id(self) -> str | None:
        return self.labels.get(LABEL_SERVICE_ID)

    @property
    def deployment_id(self) -> str | None:
        return self.labels.get(LABEL_DEPLOYMENT_ID)

    @property
    def replica_index(self) -> int:
        try:
            return int(self.labels.get(LABEL_REPLICA_INDEX, "0"))
        except ValueError:
            return 0


@dataclass(frozen=True)
class RuntimeEvent:
    """A Docker event about a managed container (die, destroy, oom, health_status, start...), or
    ``network_disconnect``/``network_destroy`` of a DeployKit network (labels: ``{"network": name}``)."""

    action: str
    container_id: str
    labels: dict[str, str]
    exit_code: int | None = None


@dataclass(frozen=True)
class ContainerStats:
    container_id: str
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    network_rx_bytes: int
    network_tx_bytes: int
    at: datetime | None = None
    block_read_bytes: int = 0
    block_write_bytes: int = 0


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    labels: dict[str, str]


@dataclass(frozen=True)
class VolumeInfo:
    """A managed volume; its labels name the project and service that own it."""

    name: str
    labels: dict[str, str]


class Runtime(Protocol):
    """Every method translates engine failures: ``not_found``, ``conflict``, ``unavailable``."""

    async def ping(self) -> bool:
        """Whether the engine answers. Never raises."""
        ...

    async def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        """Create the network if missing (idempotent). Raises ``unavailable``."""
        ...

    async def remove_network(self, name: str) -> None:
        """Idempotent; disconnects nothing unmanaged. Raises ``unavailable``, ``conflict`` (in use)."""
        ...

    async def list_networks(self) -> list[NetworkInfo]:
        """Managed networks only."""
        ...

    async def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        """Idempotent. Raises ``unavailable``; ``invalid`` when a volume of that name exists and its
        labels name another service (a service never mounts another's data)."""
        ...

    async def remove_volume(self, name: str) -> None:
        """Idempotent. Raises ``unavailable``, ``conflict`` (in use)."""
        ...

    async def list_volumes(self) -> list[str]:
        """Names of managed volumes."""
        ...

    async def list_volume_infos(self) -> list[VolumeInfo]:
        """Managed volumes with their labels (to sweep those of deleted services)."""
        ...

    async def ensure_image(self, ref: str, *, pull: bool = False) -> None:
        """Use the local image when present; pull it when missing or when ``pull`` is true (mutable
        tags on redeploy). Raises ``unavailable`` when no registry answers, ``not_found`` when the
        image does not exist."""
        ...

    async def has_image(self, ref: str) -> bool:
        """Whether the image is present locally (never pulls). Raises ``unavailable``."""
        ...

    async def remove_images(
        self, labels: dict[str, str], *, reference: str | None = None, keep: Collection[str] = ()
    ) -> list[str]:
        """Remove every image carrying all of ``labels`` (builds of earlier versions), except one
        a container still uses; returns the removed images' tags (or ids). With ``reference``
        (``built_images``) and no labels: the tags of that pattern on images without DeployKit's
        label, except those of a repository in ``keep`` (the services that still exist), tag by
        tag (another name of the same image stays). Raises ``unavailable``."""
        ...

    async def run_container(
        self, spec: ContainerSpec, *, before_start: Callable[[], Awaitable[None]] | None = None
    ) -> ContainerState:
        """Create and start; ``before_start`` is awaited in between (a replacement waits there for
        the engine to be done with the container it replaces). Raises ``conflict`` (name taken),
        ``not_found`` (image), ``unavailable``; what was created is removed then."""
        ...

    async def stop_container(self, id: str, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``. Idempotent for stopped or missing containers."""
        ...

    async def start_container(self, id: str) -> None:
        """Raises ``not_found``."""
        ...

    async def restart_container(self, id: str, grace_s: float = 10.0) -> None:
        """Raises ``not_found``."""
        ...

    async def remove_container(self, id: str) -> None:
        """Force-remove; idempotent for a missing container."""
        ...

    async def inspect_container(self, id: str) -> ContainerState:
        """Raises ``not_found``."""
        ...

    async def list_containers(self) -> list[ContainerState]:
        """Every managed container, running or not, in ONE engine call."""
        ...

    def events(self) -> AsyncIterator[RuntimeEvent]:
        """Container events of managed containers until the iterator is closed. Raises
        ``unavailable`` when the engine goes away (the caller resubscribes)."""
        ...

    async def stats(self, id: str) -> ContainerStats:
        """One-shot stats. Raises ``not_found`` for a container that is gone or not running."""
        ...


class Restarter(Protocol):
    """The one thing the HTTP adapter asks of the control loop: a command whose outcome the
    caller waits for. Everything a user changes reaches the loop as a store event instead."""

    async def restart_service(self, service_id: str) -> None:
        """Restart the service's running replicas one at a time. Raises ``not_found``, ``unavailable``."""
        ...


class Reconciler(Restarter, Protocol):
    """What the composition root may ask of the control loop."""

    def trigger(self) -> None:
        """Wake a full reconcile soon (coalesced). Never blocks."""
        ...

    def trigger_service(self, service_id: str) -> None:
        """Wake a reconcile of one service soon (coalesced). Never blocks."""
        ...
