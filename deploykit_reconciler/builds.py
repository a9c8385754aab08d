"""Git deployments: turning a pending git deployment into an image before the rollout.

Builds run as their own supervised tasks (one per deployment), never inside a reconcile worker,
so that a long build holds no worker. When a build ends the service is reconciled again: the
deployment is then ``starting`` with the built tag (or ``failed`` with the build's output).

``BuildPipeline`` is the ``BuildScheduler`` the daemon hands the reconciler: it puts the daemon's
limits (timeout, memory) on every build and prunes the service's old images while it builds.

Each output line is appended to the deployment's stored log, in order, by one writer per build;
the store publishes it as a ``build.log`` event once stored, which is what live log streams follow
(a line published before it was stored could be missed, or shown twice, by a stream that reads the
stored log meanwhile). The build's outcome is recorded only after every line is stored, so that a
stream that ends with the deployment has shown them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from deploykit.build import BuildRequest, BuildResult, BuildScheduler, DeployKeyService, ImagePruner
from deploykit.deployment import Deployment, DeploymentFailure, DeploymentFilter, DeploymentService, DeploymentStatus
from deploykit.errors import CONFLICT, INVALID, NOT_FOUND, Error, error_code, error_message
from deploykit.project import Project
from deploykit.runtime import image_tag
from deploykit.service import GitSource, Service

log = logging.getLogger(__name__)


class BuildDriver:
    def __init__(
        self,
        *,
        builds: BuildScheduler,
        deployments: DeploymentService,
        deploy_keys: DeployKeyService | None,
        on_done: Callable[[str], None],
        retry_s: float = 5.0,
        instance_id: str | None = None,
    ) -> None:
        self._instance_id = instance_id
        """Names the built images (``deploykit.runtime.image_root``)."""
        self._builds = builds
        self._deployments = deployments
        self._deploy_keys = deploy_keys
        self._on_done = on_done
        self._retry_s = retry_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._services: dict[str, str] = {}
        """The service each running build (by deployment id) is for."""

    def building(self, deployment_id: str) -> bool:
        return deployment_id in self._tasks

    async def ensure(
        self, project: Project, service: Service, deployment: Deployment, *, credentials_of: str | None = None
    ) -> None:
        """Start the deployment's build unless it already runs (also after a daemon restart,
        when a ``building`` deployment has no build behind it any more). A deployment that
        recorded its image (a rollback whose image was pruned) is built again from its recorded
        commit into that very tag; it is marked ``building`` only from ``pending``.

        The clone uses the deploy key and pinned known hosts of service ``credentials_of``
        (default: the service itself): a pull-request preview's are its previewed service's,
        whose repository it clones, and the host keys it learns are pinned there."""
        if deployment.id in self._tasks:
            return
        owner = credentials_of or service.id
        source = deployment.config.source
        assert isinstance(source, GitSource)
        if deployment.status == DeploymentStatus.PENDING:
            deployment = await self._deployments.mark_building(deployment.id)
        req = BuildRequest(
            deployment_id=deployment.id,
            source=source,
            tag=deployment.image or image_tag(project.slug, service.slug, deployment.id, self._instance_id),
            commit_sha=deployment.commit_sha,
            deploy_key=await self._key(owner),
            known_hosts=await self._known_hosts(owner),
        )
        task = asyncio.create_task(self._run(service.id, req, owner), name=f"build-{deployment.short_id}")
        self._tasks[deployment.id] = task
        self._services[deployment.id] = service.id

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(deployment.id) in (done, None):  # not a retry started meanwhile
                self._tasks.pop(deployment.id, None)
                self._services.pop(deployment.id, None)

        task.add_done_callback(forget)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def cancel_service(self, service_id: str) -> int:
        """Stop the builds of a deleted service (a closed pull request's preview), so that none
        goes on to tag an image nobody will run; how many were stopped. Cancelling a build
        stops it in the engine, which leaves no tagged image behind."""
        tasks = [self._tasks[d] for d, s in list(self._services.items()) if s == service_id and d in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def _run(self, service_id: str, req: BuildRequest, credentials_of: str) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        writer = asyncio.create_task(self._write_log(req.deployment_id, lines))
        failure: Exception | None = None
        try:
            result = await self._builds.build(service_id, req, lines.put_nowait)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = exc
        finally:
            lines.put_nowait(None)
            with contextlib.suppress(Exception):
                await writer
        if failure is not None:
            await self._failed(service_id, req, failure)
            self._done(service_id, req)
            return
        try:
            await self._deployments.mark_starting(
                req.deployment_id,
                image=result.image,
                commit_sha=result.commit_sha,
                commit_message=result.commit_message,
            )
            if result.known_hosts and self._deploy_keys is not None:
                await self._deploy_keys.set_known_hosts(credentials_of, result.known_hosts)
        except Error as err:
            if err.code not in {INVALID, NOT_FOUND}:  # cancelled meanwhile: nothing to start
                raise
        self._done(service_id, req)

    def _done(self, service_id: str, req: BuildRequest) -> None:
        # Forget the task before the service is looked at again, so that a retry can start.
        self._tasks.pop(req.deployment_id, None)
        self._on_done(service_id)

    async def _failed(self, service_id: str, req: BuildRequest, exc: Exception) -> None:
        code = error_code(exc)
        if code == CONFLICT:
            return  # a newer build of the service superseded this one
        if code in {INVALID, NOT_FOUND}:
            message = error_message(exc)
            reason = message.splitlines()[0] if message else "The build failed."
            with contextlib.suppress(Error):
                await self._deployments.mark_failed(
                    req.deployment_id, DeploymentFailure(reason=f"build failed: {reason}", log_tail=message)
                )
            return
        # The engine went away (or something unexpected): build again later.
        log.warning("build of deployment %s failed (%s); retrying", req.deployment_id[:8], error_message(exc))
        await asyncio.sleep(self._retry_s)

    async def _write_log(self, deployment_id: str, lines: asyncio.Queue[str | None]) -> None:
        """Store the build's lines in order; the lines that came while one append ran go in the
        next one together (a build prints its last steps in a burst, and its end waits for them)."""
        ended = False
        while not ended:
            batch = [await lines.get()]
            while not lines.empty():
                batch.append(lines.get_nowait())
            if None in batch:
                ended = True
                batch = batch[: batch.index(None)]
            text = "".join(line if line.endswith("\n") else line + "\n" for line in batch if line is not None)
            if text:
                with contextlib.suppress(Error):
                    await self._deployments.append_log(deployment_id, text)

    async def _key(self, service_id: str) -> str | None:
        if self._deploy_keys is None:
            return None
        try:
            return (await self._deploy_keys.get_deploy_key(service_id)).private_key
        except Error as err:
            if err.code == NOT_FOUND:
                return None
            raise

    async def _known_hosts(self, service_id: str) -> str | None:
        if self._deploy_keys is None:
            return None
        return await self._deploy_keys.get_known_hosts(service_id)


class BuildPipeline:
    """A ``BuildScheduler`` in front of another: applies ``timeout_s`` and ``memory_mb`` to every
    build, and a moment after a build that succeeded removes (in the background) the
    service's older images beyond the newest ``keep_images`` (counting the one just built), never
    the image of an in-flight deployment nor of the newest ``keep_images - 1`` that were healthy
    once (the rollback targets). Construction does no I/O."""

    def __init__(
        self,
        builds: BuildScheduler,
        *,
        deployments: DeploymentService,
        pruner: ImagePruner | None = None,
        timeout_s: float = 900.0,
        memory_mb: int = 2048,
        keep_images: int = 5,
        prune_delay_s: float = 1.0,
    ) -> None:
        self._builds = builds
        self._deployments = deployments
        self._pruner = pruner
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.keep_images = keep_images
        self.prune_delay_s = prune_delay_s
        """How long after its build a prune begins: the rollout's container start is the engine's
        work too, and a rollout takes about this long to answer."""
        self._pruning: set[asyncio.Task[None]] = set()

    async def build(self, service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        req = dataclasses.replace(req, timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        result = await self._builds.build(service_id, req, on_log)
        # Pruning follows a build that succeeded, once its rollout is under way: beside the build
        # it slowed the clone (the engine deleting layers while git ran) by a tenth.
        prune = asyncio.create_task(self._prune_later(service_id, req.tag), name=f"prune-{service_id[:8]}")
        self._pruning.add(prune)
        prune.add_done_callback(self._pruning.discard)
        return result

    async def drain(self) -> None:
        """Until the prunes under way are done."""
        while self._pruning:
            await asyncio.wait(list(self._pruning))

    async def stop(self) -> None:
        """Drop the prunes under way: the next build's prune takes their images."""
        for task in self._pruning:
            task.cancel()
        await asyncio.gather(*self._pruning, return_exceptions=True)

    async def _prune_later(self, service_id: str, tag: str) -> None:
        await asyncio.sleep(self.prune_delay_s)
        await self._prune(service_id, tag)

    async def _prune(self, service_id: str, tag: str) -> None:
        if self._pruner is None:
            return
        try:
            keep = max(self.keep_images - 1, 0)  # older ones: the image just built is the last one kept
            items, _ = await self._deployments.list_deployments(DeploymentFilter(service_id=service_id, limit=10_000))
            # The rollback targets kept are the newest deployments that were healthy once (listed
            # newest first); keeping every one would let a busy service fill the disk.
            targets = [d.image for d in items if d.image and d.was_healthy][:keep]
            in_use = frozenset(targets) | {d.image for d in items if d.image and d.in_flight} | {tag}
            removed = await self._pruner.prune_images(tag.rpartition(":")[0], keep=keep + 1, in_use=in_use)
        except Exception as exc:  # pruning is housekeeping: never fail the build for it
            log.warning("pruning images of service %s failed: %s", service_id[:8], error_message(exc))
            return
        if removed:
            log.info("pruned %d old image(s) of service %s", len(removed), service_id[:8])
