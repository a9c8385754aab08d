"""The daemon's build pipeline with fakes: limits on every build, its lines to the log writer, pruning."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

import pytest

from deploykit.build import BuildRequest, BuildResult
from deploykit.deployment import Deployment, DeploymentFilter, DeploymentStatus
from deploykit.errors import INVALID, UNAVAILABLE, Error
from deploykit.service import GitSource
from deploykit_reconciler.builds import BuildPipeline
from tests.reconciler.fakes import deployment

REQ = BuildRequest(deployment_id="d-new", source=GitSource("file:///r"), tag="deploykit/shop-api:dnew")


@dataclass
class Scheduler:
    """Builds by emitting ``lines`` then returning (or raising ``error``); records what it got."""

    lines: tuple[str, ...] = ("Step 1/2 : FROM x\n", "done")
    error: Exception | None = None
    seen: list[BuildRequest] = field(default_factory=list)

    async def build(self, service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        self.seen.append(req)
        for line in self.lines:
            on_log(line)
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return BuildResult(image=req.tag, commit_sha="c0ffee", commit_message="m")


@dataclass
class Deployments:
    items: list[Deployment] = field(default_factory=list)

    async def list_deployments(self, filt: DeploymentFilter) -> tuple[list[Deployment], int]:
        assert filt.service_id == "s1"
        return self.items, len(self.items)


@dataclass
class Pruner:
    calls: list[tuple[str, int, frozenset[str]]] = field(default_factory=list)
    error: Exception | None = None

    async def prune_images(self, repository: str, *, keep: int = 5, in_use: Collection[str] = ()) -> list[str]:
        self.calls.append((repository, keep, frozenset(in_use)))
        if self.error is not None:
            raise self.error
        return ["deploykit/shop-api:old"]


def pipeline(scheduler: Scheduler, pruner: Pruner, items: list[Deployment]) -> BuildPipeline:
    return BuildPipeline(
        scheduler,
        deployments=Deployments(items),  # type: ignore[arg-type]
        pruner=pruner,
        timeout_s=60.0,
        memory_mb=512,
        keep_images=5,
        prune_delay_s=0.0,
    )


def dep(id: str, image: str, status: DeploymentStatus, was_healthy: bool) -> Deployment:
    return replace(deployment(id, status=status), image=image, was_healthy=was_healthy)


async def test_every_build_gets_the_daemon_limits_and_its_lines_go_to_the_log_writer() -> None:
    scheduler, logged = Scheduler(), list[str]()
    result = await pipeline(scheduler, Pruner(), []).build("s1", REQ, logged.append)

    assert result.image == REQ.tag
    assert [(r.timeout_s, r.memory_mb) for r in scheduler.seen] == [(60.0, 512)]
    # The store publishes each line once stored (a line published before could be shown twice or never).
    assert logged == ["Step 1/2 : FROM x\n", "done"]


async def test_pruning_keeps_the_newest_rollback_targets_and_in_flight_images() -> None:
    pruner = Pruner()
    healthy_once = [
        dep(f"d{i}", f"deploykit/shop-api:h{i}", DeploymentStatus.SUPERSEDED, True) for i in range(6, 0, -1)
    ]  # newest first, as the store lists them
    items = [
        dep("d9", "deploykit/shop-api:starting", DeploymentStatus.STARTING, False),
        dep("d8", "deploykit/shop-api:never-healthy", DeploymentStatus.FAILED, False),
        *healthy_once,
    ]
    p = pipeline(Scheduler(), pruner, items)
    await p.build("s1", REQ, lambda _: None)
    await p.drain()  # the prune follows the build, beside the rollout
    # The image just built is the newest of the five kept, with four rollback targets.
    kept = {REQ.tag, "deploykit/shop-api:starting", *(f"deploykit/shop-api:h{i}" for i in (6, 5, 4, 3))}
    assert pruner.calls == [("deploykit/shop-api", 5, frozenset(kept))]


async def test_a_failed_build_prunes_nothing() -> None:
    pruner = Pruner()
    p = pipeline(Scheduler(error=Error(INVALID, "step 2 failed")), pruner, [])
    with pytest.raises(Error):
        await p.build("s1", REQ, lambda _: None)
    await p.drain()
    assert pruner.calls == []


async def test_stopping_drops_the_prunes_under_way() -> None:
    pruner = Pruner()
    p = BuildPipeline(
        Scheduler(),
        deployments=Deployments([]),  # type: ignore[arg-type]
        pruner=pruner,
        prune_delay_s=3600.0,
    )
    await p.build("s1", REQ, lambda _: None)
    await asyncio.wait_for(p.stop(), 5)
    assert pruner.calls == []


@pytest.mark.parametrize(
    ("build_error", "prune_error"),
    [(None, Error(UNAVAILABLE, "engine gone")), (Error(INVALID, "step 2 failed"), None)],
)
async def test_a_failed_prune_never_fails_the_build_and_a_failed_build_still_fails(
    build_error: Exception | None, prune_error: Exception | None
) -> None:
    p = pipeline(Scheduler(error=build_error), Pruner(error=prune_error), [])
    if build_error is None:
        assert (await p.build("s1", REQ, lambda _: None)).image == REQ.tag
        await p.drain()  # the prune's failure stays its own
    else:
        with pytest.raises(Error) as err:
            await p.build("s1", REQ, lambda _: None)
        assert (err.value.code, err.value.message) == (INVALID, "step 2 failed")
