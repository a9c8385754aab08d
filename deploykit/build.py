"""Builds: a git source turned into an image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
