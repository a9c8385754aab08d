"""Builds: a git checkout sent as a tar context to the Docker engine's build API (aiodocker), a bounded
FIFO queue in front of it, and pruning of a service's old images."""

from __future__ import annotations

import asyncio
import codecs
import collections
import json
import os
import re
import tarfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import aiodocker
import aiohttp

from deploykit import CONFLICT, INTERNAL, INVALID, Error
from deploykit.build import Builder, BuildRequest, BuildResult
from deploykit.runtime import LABEL_MANAGED_BY, MANAGED_BY, managed_labels
from deploykit_docker.errors import CONNECT_FAILED, translate
from deploykit_docker.git import GitCloner, GitSettings, redact

T = TypeVar("T")
MIB = 1024 * 1024
OUTSIDE_DOCKERFILE = ".deploykit.Dockerfile"
"""The name a Dockerfile from outside the context gets inside the tar (as the docker CLI does)."""
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BOOKKEEPING = (" ---> ", "Removing intermediate container ")
SUPERSEDED = "Cancelled: a newer build of this service started."
CANCELLED = "Cancelled."


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
            # Each build label costs the classic builder one more step (a container and a commit),
            # so only the one the architecture requires; the deployment id is in the tag already.
            "labels": json.dumps(managed_labels()),
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
                await self.docker.images.inspect(req.tag)
            except aiodocker.DockerError as exc:
                error = build_error(exc)
                on_log(error.message)
                raise error from exc
            except (aiohttp.ClientError, ConnectionError) as exc:
                raise translate(exc, "the build") from exc

    async def prune_images(self, repository: str, *, keep: int = 5, in_use: Collection[str] = ()) -> list[str]:
        """Remove the DeployKit-built tags of ``repository`` beyond the newest ``keep``, never one in
        ``in_use`` nor one a container still uses; returns the removed tags. Raises ``unavailable``."""
        filters = {"reference": [repository], "label": [f"{LABEL_MANAGED_BY}={MANAGED_BY}"]}
        try:
            images = await self.docker.images.list(filters=filters)
        except aiodocker.DockerError as exc:
            raise translate(exc, f"images of {repository}") from exc
        # The list's Created is whole seconds; builds can be closer than that, so ask for the exact time.
        dated: list[tuple[str, str]] = []
        for img in images:
            tags = [t for t in img.get("RepoTags") or [] if t.rsplit(":", 1)[0] == repository]
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


class BuildStream:
    """Parses the engine's JSON-lines build output: text to ``on_log`` line by line, and the error
    with the failing step's output."""

    def __init__(self, on_log: Callable[[str], None], error_lines: int) -> None:
        self.on_log = on_log
        self.step: collections.deque[str] = collections.deque(maxlen=error_lines)
        self.error: str | None = None
        self.image_id: str | None = None
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._text = ""
        self._decoder = json.JSONDecoder()

    def feed(self, chunk: bytes) -> None:
        self._pending += self._utf8.decode(chunk)  # incremental: a character split across chunks survives
        pos = 0
        while True:
            while pos < len(self._pending) and self._pending[pos].isspace():
                pos += 1
            if pos >= len(self._pending):
                break
            try:
                message, pos = self._decoder.raw_decode(self._pending, pos)
            except json.JSONDecodeError:
                break  # an incomplete object: wait for more
            if isinstance(message, dict):
                self._message(message)
        self._pending = self._pending[pos:]

    def _message(self, message: dict[str, Any]) -> None:
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail") or {}
            self.error = str(detail.get("message") or message.get("error") or "unknown error")
            self.on_log(self.error)
        if isinstance(message.get("stream"), str):
            self._text += message["stream"]
            *lines, self._text = re.split(r"\r\n|\r|\n", self._text)
            for line in lines:
                self._line(line)
        aux = message.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            self.image_id = aux["ID"]

    def _line(self, line: str) -> None:
        line = ANSI_RE.sub("", line).rstrip()  # the engine colours a step's stderr
        if not line:
            return
        if line.startswith("Step "):
            self.step.clear()
        if not line.startswith(BOOKKEEPING):  # the builder's own, noise in an error message
            self.step.append(line)
        self.on_log(line)

    def end(self) -> None:
        """Raises ``invalid`` with the failing step's output when the build failed."""
        if self._text:
            self._line(self._text)
            self._text = ""
        if self.error is not None:
            lines = [*self.step]
            if not lines or lines[-1] != self.error:
                lines.append(self.error)
            raise Error(INVALID, "docker build failed: " + redact("\n".join(lines)))
        if self.image_id is None:
            raise Error(INVALID, "docker build failed: the engine ended the build without an image.")


def write_context(
    repo: Path, context: str, dockerfile_path: str, tar_path: Path, default_ignores: tuple[str, ...]
) -> str:
    """Write the build context of a checkout as a tar, honouring ``.dockerignore``; return the
    Dockerfile's path inside the context. Raises ``invalid`` for paths that leave the repository.

    ``dockerfile_path`` is relative to the repository root; when no file is there but one is at
    ``context/dockerfile_path``, that one is used."""
    root = repo.resolve()
    ctx = _inside(root, context, "context")
    if not ctx.is_dir():
        raise Error(INVALID, f"docker build failed: the context {context!r} is not a directory in the repository.")
    dockerfile = _inside(root, dockerfile_path, "dockerfile_path")
    if not dockerfile.is_file():
        alternative = _inside(root, str(PurePosixPath(context) / dockerfile_path), "dockerfile_path")
        if not alternative.is_file():
            raise Error(INVALID, f"docker build failed: no Dockerfile at {dockerfile_path!r} in the repository.")
        dockerfile = alternative
    inside = dockerfile.is_relative_to(ctx)
    name = dockerfile.relative_to(ctx).as_posix() if inside else OUTSIDE_DOCKERFILE
    patterns = list(default_ignores)
    ignore_file = ctx / ".dockerignore"
    if ignore_file.is_file():
        patterns += ignore_file.read_text(errors="replace").splitlines()
    ignore = DockerIgnore([*patterns, f"!{name}", "!.dockerignore"])
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, arcname in ignore.walk(ctx):
            info = tar.gettarinfo(str(path), arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
        if not inside:
            info = tar.gettarinfo(str(dockerfile), name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with dockerfile.open("rb") as f:
                tar.addfile(info, f)
    return name


def _inside(root: Path, relative: str, what: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise Error(INVALID, f"docker build failed: {what} {relative!r} leaves the repository.")
    return path


class DockerIgnore:
    """``.dockerignore`` rules as the docker CLI reads them: Go-style globs with ``**``, ``!``
    exceptions, the last matching rule wins, and a rule that matches a directory covers its contents."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = os.path.normpath(line[1:].strip() if negate else line).lstrip("/")
            if pattern in ("", "."):
                continue
            self.rules.append((negate, re.compile(_glob_to_regex(pattern))))
        self.has_exceptions = any(negate for negate, _ in self.rules)

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negate, regex in self.rules:
            if any(regex.fullmatch(p) for p in prefixes):
                result = not negate
        return result

    def walk(self, ctx: Path) -> Iterator[tuple[Path, str]]:
        """(path, name in the tar) of every entry to send, parents before children; symlinks are
        sent as links, never followed."""
        for dirpath, dirnames, filenames in os.walk(ctx):
            base = Path(dirpath)
            rel = base.relative_to(ctx).as_posix()
            keep_dirs = []
            for name in sorted(dirnames):
                arc = name if rel == "." else f"{rel}/{name}"
                path = base / name
                if path.is_symlink():
                    filenames.append(name)
                    continue
                if self.excluded(arc):
                    if self.has_exceptions:
                        keep_dirs.append(name)  # something below may be re-included
                    continue
                keep_dirs.append(name)
                yield path, arc
            dirnames[:] = keep_dirs
            for name in sorted(filenames):
                arc = name if rel == "." else f"{rel}/{name}"
                if not self.excluded(arc):
                    yield base / name, arc


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                body = "^" + body[1:] if body.startswith("^") else body
                out.append(f"[{body}]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(eq=False)
class _Ticket:
    service_id: str
    granted: asyncio.Future[bool]
    """True once a build slot is handed over; False when the ticket left the queue without one."""
    task: asyncio.Task[BuildResult] | None = None
    reason: str | None = None
    """Why a newer build or ``cancel()`` ended this one."""


class BuildQueue:
    """At most ``max_concurrent`` builds at once, the rest wait first come, first served; a newer
    build of the same service cancels the older one, queued or running. Implements
    ``deploykit.build.BuildScheduler``. The build runs in a task of its own so that cancelling it
    never cancels the caller."""

    def __init__(self, builder: Builder, *, max_concurrent: int = 1) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.builder = builder
        self.max_concurrent = max_concurrent
        self._running = 0
        self._waiting: collections.deque[_Ticket] = collections.deque()
        self._latest: dict[str, _Ticket] = {}

    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._waiting)

    async def build(self, service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        """Wait for a slot, then ``builder.build``. Raises ``conflict`` when a newer build of the same
        service (or ``cancel``) ended this one; otherwise as ``Builder.build``."""
        ticket = _Ticket(service_id, asyncio.get_running_loop().create_future())
        older = self._latest.get(service_id)
        if older is not None:
            self._end(older, SUPERSEDED)
        self._latest[service_id] = ticket
        try:
            await self._acquire(ticket, on_log)
            try:
                return await self._run(ticket, req, on_log)
            finally:
                self._release()
        finally:
            if self._latest.get(service_id) is ticket:
                del self._latest[service_id]

    def cancel(self, service_id: str) -> bool:
        """End the service's queued or running build (its caller gets ``conflict``); False if none."""
        ticket = self._latest.get(service_id)
        if ticket is None:
            return False
        self._end(ticket, CANCELLED)
        return True

    async def _acquire(self, ticket: _Ticket, on_log: Callable[[str], None]) -> None:
        if self._running < self.max_concurrent and not self._waiting:
            self._running += 1
            return
        self._waiting.append(ticket)
        on_log(f"Queued: waiting for a build slot ({len(self._waiting) - 1} ahead, {self._running} running).")
        try:
            granted = await ticket.granted
        except asyncio.CancelledError:
            if ticket.granted.done() and not ticket.granted.cancelled() and ticket.granted.result():
                self._release()  # the slot was handed over just as we were cancelled: pass it on
            elif ticket in self._waiting:
                self._waiting.remove(ticket)
            raise
        if not granted:
            raise Error(CONFLICT, ticket.reason or CANCELLED)

    async def _run(self, ticket: _Ticket, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        if ticket.reason is not None:
            raise Error(CONFLICT, ticket.reason)
        task = asyncio.create_task(self.builder.build(req, on_log), name=f"build {req.deployment_id}")
        ticket.task = task
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait([task])  # the slot is free only once the engine let go of the build
            raise
        if task.cancelled():
            raise Error(CONFLICT, ticket.reason or CANCELLED)
        return task.result()

    def _end(self, ticket: _Ticket, reason: str) -> None:
        ticket.reason = reason
        if ticket in self._waiting:
            self._waiting.remove(ticket)
            ticket.granted.set_result(False)
        elif ticket.task is not None:
            ticket.task.cancel()

    def _release(self) -> None:
        self._running -= 1
        while self._waiting:
            nxt = self._waiting.popleft()
            if not nxt.granted.done():
                nxt.granted.set_result(True)
                self._running += 1
                return
