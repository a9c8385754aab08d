"""Builds: a git checkout sent as a tar context to the Docker engine's build API (aiodocker), and
pruning of a service's old images. The context is written by ``build_context``, the engine's output
parsed by ``build_stream``; ``build_queue`` bounds how many run at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiodocker
import aiohttp

from deploykit import INTERNAL, INVALID, Error
from deploykit.build import BuildRequest, BuildResult
from deploykit.runtime import BUILT_TAG_RE
from deploykit_docker.build_context import write_context
from deploykit_docker.build_stream import BuildStream
from deploykit_docker.errors import CONNECT_FAILED, translate
from deploykit_docker.git import GitCloner, GitSettings

T = TypeVar("T")
MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    git: GitSettings = field(default_factory=GitSettings)
    error_lines: int = 20
    """How many lines of the failing step's output a build error carries."""
    default_ignores: tuple[str, ...] = (".git",)
    """Patterns excluded before the repository's own .dockerignore (which may re-include them with '!')."""


class DockerBuilder:
    """Clones a git source and builds it with the engine's (classic) build API; implements
    ``deploykit.build.Builder`` and ``deploykit.build.ImagePruner``. No I/O until ``open()``."""

    def __init__(self, *, docker_url: str | None = None, work_dir: Path, settings: BuildSettings | None = None) -> None:
        self.docker_url = docker_url
        self.settings = settings or BuildSettings()
        self.cloner = GitCloner(work_dir=work_dir, settings=self.settings.git)
        self._docker: aiodocker.Docker | None = None

    async def open(self) -> None:
        if self._docker is None:
            self._docker = aiodocker.Docker(url=self.docker_url)

    async def close(self) -> None:
        await self.cloner.drain()
        if self._docker is not None:
            docker, self._docker = self._docker, None
            await docker.close()

    async def __aenter__(self) -> DockerBuilder:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            raise Error(INTERNAL, "DockerBuilder is not open.")
        return self._docker

    async def build(self, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        """Clone, tar the context, build and tag ``req.tag``. Raises ``invalid`` (clone or build
        failed, or timed out; the message carries the failing step's output), ``unavailable``
        (engine unreachable), ``internal``. Cancelling the task stops the build in the engine."""
        try:
            async with asyncio.timeout(req.timeout_s):
                return await self._build(req, on_log)
        except TimeoutError as exc:
            on_log(f"Build timed out after {req.timeout_s:g} s and was stopped.")
            raise Error(INVALID, f"build timed out after {req.timeout_s:g} s") from exc

    async def _build(self, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        src = req.source
        async with self.cloner.checkout(
            req.deployment_id,
            src.repo_url,
            src.branch,
            commit_sha=req.commit_sha,
            deploy_key=req.deploy_key,
            known_hosts=req.known_hosts,
            on_log=on_log,
        ) as checkout:
            tar_path = checkout.path.parent / "context.tar"
            dockerfile = await _finish_in_thread(
                write_context, checkout.path, src.context, src.dockerfile_path, tar_path, self.settings.default_ignores
            )
            on_log(
                f"Building {req.tag} from {checkout.commit_sha[:12]} ({tar_path.stat().st_size // 1024} KiB context)"
            )
            await self._engine_build(req, tar_path, dockerfile, on_log)
            return BuildResult(
                image=req.tag,
                commit_sha=checkout.commit_sha,
                commit_message=checkout.commit_message,
                known_hosts=checkout.known_hosts,
            )

    async def _engine_build(
        self, req: BuildRequest, tar_path: Path, dockerfile: str, on_log: Callable[[str], None]
    ) -> None:
        memory = req.memory_mb * MIB
        params: dict[str, Any] = {
            "t": req.tag,
            "dockerfile": dockerfile,
            "rm": "1",
            "forcerm": "1",  # a failed or cancelled build leaves no intermediate containers behind
            "pull": "0",
            "memory": str(memory),
            "memswap": str(memory),  # no swap beyond the cap
            # No labels: the classic builder turns them into one more step (a container and a
            # commit). The image's name says whose it is (``deploykit.runtime.image_root``).
        }
        parser = BuildStream(on_log, self.settings.error_lines)
        with tar_path.open("rb") as body:
            try:
                # aiodocker's images.build() has no memory limit; the engine's API does.
                async with self.docker._query(
                    "build",
                    "POST",
                    params=params,
                    data=body,
                    headers={"Content-Type": "application/x-tar"},
                    timeout=None,
                ) as resp:
                    try:
                        async for chunk in resp.content.iter_any():
                            parser.feed(chunk)
                    finally:
                        # Closing (not releasing) the connection is what makes the engine abort
                        # a build we stopped waiting for: it kills the running step's container.
                        resp.close()
                parser.end()
                if req.tag not in parser.tagged:  # the engine said nothing of the tag: look
                    await self.docker.images.inspect(req.tag)
            except aiodocker.DockerError as exc:
                error = build_error(exc)
                on_log(error.message)
                raise error from exc
            except (aiohttp.ClientError, ConnectionError) as exc:
                raise translate(exc, "the build") from exc

    async def prune_images(self, repository: str, *, keep: int = 5, in_use: Collection[str] = ()) -> list[str]:
        """Remove the DeployKit-built tags of ``repository`` beyond the newest ``keep``, never one in
        ``in_use`` nor one a container still uses; returns the removed tags. Raises ``unavailable``.

        The repository is the installation's own (``deploykit.runtime.image_root``), and of its
        tags only those DeployKit gives (a deployment id's 12 characters) are candidates."""
        filters = {"reference": [repository]}
        try:
            images = await self.docker.images.list(filters=filters)
        except aiodocker.DockerError as exc:
            raise translate(exc, f"images of {repository}") from exc
        # The list's Created is whole seconds; builds can be closer than that, so ask for the exact time.
        dated: list[tuple[str, str]] = []
        for img in images:
            tags = [t for t in img.get("RepoTags") or [] if _built_tag(t, repository)]
            if tags:
                try:
                    created = _precise((await self.docker.images.inspect(img["Id"])).get("Created", ""))
                except aiodocker.DockerError as exc:
                    if exc.status == 404:
                        continue
                    raise translate(exc, f"image {img['Id']}") from exc
                dated += [(created, tag) for tag in tags]
        dated.sort(reverse=True)
        removed: list[str] = []
        for _, tag in dated[keep:]:
            if tag in in_use:
                continue
            try:
                await self.docker.images.delete(tag)
            except aiodocker.DockerError as exc:
                if exc.status in (404, 409):  # gone already, or a container still uses it
                    continue
                raise translate(exc, f"image {tag}") from exc
            removed.append(tag)
        return removed


async def _finish_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a thread; when cancelled, wait for the thread before letting go, so that the
    checkout is not removed under a writer that is still running."""
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _built_tag(ref: str, repository: str) -> bool:
    name, _, tag = ref.rpartition(":")
    return name == repository and BUILT_TAG_RE.match(tag) is not None


def _precise(created: str) -> str:
    """An engine timestamp (RFC 3339, nanoseconds with trailing zeros trimmed) that sorts as text."""
    stamp, _, fraction = created.rstrip("Z").partition(".")
    return f"{stamp}.{fraction.ljust(9, '0')}"


def build_error(exc: aiodocker.DockerError) -> Error:
    """A refused build request. Unlike other engine errors, its text (a Dockerfile parse error, an
    unreadable context) is about the user's repository, so it is the message."""
    if exc.status == CONNECT_FAILED:
        return translate(exc, "the build")
    return Error(INVALID, f"docker build failed: {exc.message}")
