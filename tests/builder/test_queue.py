"""BuildQueue with a fake Builder: at most N at once, first come first served, a newer build of a
service cancels its queued or running older one, and a cancelled caller frees its slot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import pytest

from deploykit import Error
from deploykit.build import BuildRequest, BuildResult
from deploykit.service import GitSource
from deploykit_docker.build_queue import BuildQueue
from tests.wait import wait_for


@dataclass
class FakeBuilder:
    """Each build waits until the test releases it; records starts, finishes and cancellations."""

    build_fn: Callable[[BuildRequest, Callable[[str], None]], Awaitable[BuildResult]] | None = None
    """When set, builds delegate to it instead."""
    started: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    releases: dict[str, asyncio.Event] = field(default_factory=dict)
    running: int = 0
    peak: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def build(self, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        if self.build_fn is not None:
            return await self.build_fn(req, on_log)
        self.started.append(req.deployment_id)
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.changed.set()
        try:
            await self.releases.setdefault(req.deployment_id, asyncio.Event()).wait()
        except asyncio.CancelledError:
            self.cancelled.append(req.deployment_id)
            raise
        finally:
            self.running -= 1
            self.changed.set()
        return BuildResult(image=req.tag, commit_sha="c0ffee", commit_message=req.deployment_id)

    def release(self, deployment_id: str) -> None:
        self.releases.setdefault(deployment_id, asyncio.Event()).set()

    async def until(self, check: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not check():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), 5)


def req(deployment_id: str) -> BuildRequest:
    return BuildRequest(deployment_id=deployment_id, source=GitSource(repo_url="/srv/x"), tag=f"img:{deployment_id}")


def start(
    queue: BuildQueue, service_id: str, deployment_id: str, logs: list[str] | None = None
) -> asyncio.Task[BuildResult]:
    return asyncio.create_task(queue.build(service_id, req(deployment_id), (logs if logs is not None else []).append))


async def test_at_most_n_builds_run_at_once_in_arrival_order() -> None:
    fake = FakeBuilder()
    queue = BuildQueue(fake, max_concurrent=2)
    logs: list[str] = []
    tasks = [start(queue, f"svc{i}", f"d{i}", logs) for i in range(5)]
    await fake.until(lambda: len(fake.started) == 2)
    await wait_for(lambda: queue.queued == 3, within=5, interval=0, message="3 builds queued")
    assert queue.running == 2
    assert "Queued: waiting for a build slot (2 ahead, 2 running)." in logs

    for i in range(5):
        fake.release(f"d{i}")
        assert (await tasks[i]).commit_message == f"d{i}"
    assert fake.started == ["d0", "d1", "d2", "d3", "d4"]
    assert fake.peak == 2
    assert (queue.running, queue.queued) == (0, 0)


async def test_newer_build_cancels_the_running_older_one_of_the_same_service() -> None:
    fake = FakeBuilder()
    queue = BuildQueue(fake, max_concurrent=1)
    older = start(queue, "api", "old")
    await fake.until(lambda: fake.started == ["old"])
    newer = start(queue, "api", "new")
    with pytest.raises(Error) as info:
        await older
    assert (info.value.code, info.value.message) == ("conflict", "Cancelled: a newer build of this service started.")
    assert fake.cancelled == ["old"]
    await fake.until(lambda: fake.started == ["old", "new"])
    fake.release("new")
    assert (await newer).image == "img:new"


async def test_newer_build_cancels_the_queued_older_one_before_it_starts() -> None:
    fake = FakeBuilder()
    queue = BuildQueue(fake, max_concurrent=1)
    other = start(queue, "db", "db1")
    await fake.until(lambda: fake.started == ["db1"])
    older = start(queue, "api", "old")
    await wait_for(lambda: queue.queued == 1, within=5, interval=0, message="1 builds queued")
    newer = start(queue, "api", "new")
    with pytest.raises(Error) as info:
        await older
    assert info.value.code == "conflict"
    assert queue.queued == 1

    fake.release("db1")
    await other
    fake.release("new")
    await newer
    assert fake.started == ["db1", "new"]


async def test_builds_of_other_services_are_not_cancelled() -> None:
    fake = FakeBuilder()
    queue = BuildQueue(fake, max_concurrent=2)
    a, b = start(queue, "a", "a1"), start(queue, "b", "b1")
    await fake.until(lambda: len(fake.started) == 2)
    fake.release("a1")
    fake.release("b1")
    assert [(await a).image, (await b).image] == ["img:a1", "img:b1"]
    assert fake.cancelled == []


async def test_cancelled_callers_free_their_slot_and_leave_the_queue() -> None:
    fake = FakeBuilder()
    queue = BuildQueue(fake, max_concurrent=1)
    running = start(queue, "a", "a1")
    await fake.until(lambda: fake.started == ["a1"])
    waiting = start(queue, "b", "b1")
    await wait_for(lambda: queue.queued == 1, within=5, interval=0, message="1 builds queued")

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert queue.queued == 0

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert fake.cancelled == ["a1"]
    assert queue.running == 0

    third = start(queue, "c", "c1")
    await fake.until(lambda: fake.started == ["a1", "c1"])
    fake.release("c1")
    await third
    assert fake.started == ["a1", "c1"]


async def test_cancel_ends_a_services_build() -> None:
    fake = FakeBuilder()
    queue = BuildQueue(fake, max_concurrent=1)
    task = start(queue, "a", "a1")
    await fake.until(lambda: fake.started == ["a1"])
    assert queue.cancel("a") is True
    with pytest.raises(Error) as info:
        await task
    assert (info.value.code, info.value.message) == ("conflict", "Cancelled.")
    assert queue.cancel("a") is False


async def test_builder_errors_reach_the_caller_and_free_the_slot() -> None:
    async def failing(req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        raise Error("invalid", "docker build failed: boom")

    queue = BuildQueue(FakeBuilder(build_fn=failing), max_concurrent=1)
    with pytest.raises(Error) as info:
        await queue.build("a", req("a1"), lambda _: None)
    assert (info.value.code, info.value.message) == ("invalid", "docker build failed: boom")
    assert queue.running == 0


async def test_a_build_that_ignores_its_timeout_frees_its_slot_and_the_next_one_runs() -> None:
    stuck_until = asyncio.Event()

    async def jammed(r: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        if r.deployment_id == "next":
            return BuildResult(image=r.tag, commit_sha="c0ffee", commit_message="ran")
        while not stuck_until.is_set():  # a reader thread stuck on a read: cancellation does not end it
            try:
                await stuck_until.wait()
            except asyncio.CancelledError:
                continue
        raise AssertionError("released only after the test")

    queue = BuildQueue(FakeBuilder(build_fn=jammed), max_concurrent=1, grace_s=0.05)
    logs: list[str] = []
    jam = asyncio.create_task(queue.build("a", replace(req("jam"), timeout_s=0.05), logs.append))
    following = asyncio.create_task(queue.build("b", req("next"), lambda _: None))
    with pytest.raises(Error) as info:
        await asyncio.wait_for(jam, 5)
    assert (info.value.code, info.value.message) == (
        "invalid",
        "build timed out after 0.05 s and did not stop; its slot was freed",
    )
    assert logs[-1] == "Build timed out after 0.05 s and did not stop; its slot was freed."
    assert (await asyncio.wait_for(following, 5)).commit_message == "ran"
    assert queue.running == 0
    stuck_until.set()  # the abandoned build ends; the queue let go of it
    await wait_for(lambda: not queue._abandoned, within=5, interval=0, message="the abandoned build to be reaped")
