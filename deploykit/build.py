"""Builds: a git source turned into an image."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from deploykit.service import GitSource


@dataclass(frozen=True)
class BuildRequest:
    deployment_id: str
    source: GitSource
    tag: str
    commit_sha: str | None = None
    """Pin the build to this commit (a webhook push); None builds the branch's head."""
    deploy_key: str | None = None
    """OpenSSH private key for SSH remotes."""
    known_hosts: str | None = None
    """Pinned host keys for SSH remotes; None accepts and returns them on first use."""
    timeout_s: float = 900.0
    memory_mb: int = 2048


@dataclass(frozen=True)
class BuildResult:
    image: str
    commit_sha: str
    commit_message: str
    known_hosts: str | None = None


class Builder(Protocol):
    async def build(self, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        """Clone and build, streaming output lines to ``on_log``. Cancelling the task stops the
        build. Raises ``invalid`` (clone or build failed; the message carries the failing step's
        output), ``unavailable`` (engine down), ``internal``."""
        ...


class BuildScheduler(Protocol):
    """Runs builds through a bounded FIFO queue in front of a ``Builder``."""

    async def build(self, service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        """Wait for a build slot (first come, first served), then build. A newer build of the same
        service cancels this one, queued or running: raises ``conflict``. Cancelling the task
        leaves the queue. Otherwise raises as ``Builder.build``."""
        ...


class ImagePruner(Protocol):
    async def prune_images(self, repository: str, *, keep: int = 5, in_use: Collection[str] = ()) -> list[str]:
        """Remove the DeployKit-built tags of ``repository`` beyond the newest ``keep``, never one in
        ``in_use`` nor one a container still uses; returns the removed tags. Raises ``unavailable``."""
        ...


@dataclass(frozen=True)
class DeployKeyPair:
    """A service's SSH deploy key: the public half is shown to users, the private half is stored
    encrypted and written to disk only for the length of a clone."""

    public_key: str
    """``ssh-ed25519 AAAA... comment``, one line."""
    fingerprint: str
    """``SHA256:...`` as ``ssh-keygen -l`` prints it."""
    private_key: str = field(repr=False)
    """OpenSSH PEM (``-----BEGIN OPENSSH PRIVATE KEY-----``)."""


class DeployKeyGenerator(Protocol):
    def __call__(self, comment: str) -> DeployKeyPair:
        """A fresh Ed25519 key pair; ``comment`` ends the public key line."""
        ...


class DeployKeyService(Protocol):
    """Per-service SSH deploy keys and the remote host keys pinned on first use."""

    async def get_deploy_key(self, service_id: str) -> DeployKeyPair:
        """Raises ``not_found`` (no key yet, or no such service)."""
        ...

    async def set_deploy_key(self, service_id: str, pair: DeployKeyPair) -> DeployKeyPair:
        """Store or rotate the key pair; rotating forgets nothing else. Raises ``not_found``."""
        ...

    async def delete_deploy_key(self, service_id: str) -> None:
        """Raises ``not_found``."""
        ...

    async def get_known_hosts(self, service_id: str) -> str | None:
        """The pinned ``known_hosts`` lines of the service's git remote, or None before first use."""
        ...

    async def set_known_hosts(self, service_id: str, known_hosts: str) -> None:
        """Pin the remote's host keys. Raises ``not_found``."""
        ...
