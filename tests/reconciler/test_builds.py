"""The build driver with fakes: a git deployment's build outcome becomes its lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from deploykit.build import BuildRequest, BuildResult
from deploykit.deployment import Deployment, DeploymentFailure, DeploymentStatus
from deploykit.errors import CONFLICT, INVALID, UNAVAILABLE, Error
from deploykit.project import Project
from deploykit.service import GitSource, Service, ServiceConfig
from deploykit_reconciler.builds import BuildDriver
from tests.reconciler.fakes import deployment, unset

PROJECT = Project(id="p1", name="Shop", slug="shop-a1b2c3")
SERVICE = Service(id="s1", project_id="p1", name="api", slug="api", config=ServiceConfig(source=GitSource("file:///r")))
GIT = replace(deployment("d1234567-aaaa", status=DeploymentStatus.PENDING), image=None)
GIT = replace(GIT, config=replace(GIT.config, source=GitSource("file:///r")))


@dataclass
class FakeBuilds:
    build_fn: Callable[[str, BuildRequest, Callable[[str], None]], Awaitable[BuildResult]] = field(
        default_factory=lambda: unset("build")
    )

    async def build(self, service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        return await self.build_fn(service_id, req, on_log)


@dataclass
class FakeDeployments:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def mark_building(self, id: str) -> Deployment:
        self.calls.append(("building", id))
        return replace(GIT, status=DeploymentStatus.BUILDING)

    async def mark_starting(self, id: str, image: str | None = None, **kw: Any) -> Deployment:
        self.calls.append(("starting", (image, kw)))
        return replace(GIT, status=DeploymentStatus.STARTING, image=image)

    async def mark_failed(self, id: str, failure: DeploymentFailure) -> Deployment:
        self.calls.append(("failed", failure))
        return replace(GIT, status=DeploymentStatus.FAILED)

    async def append_log(self, id: str, text: str) -> None:
        self.calls.append(("log", text))


async def drive(
    build: Callable[[str, BuildRequest, Callable[[str], None]], Awaitable[BuildResult]],
) -> tuple[FakeDeployments, list[str], BuildDriver]:
    deployments = FakeDeployments()
    done: list[str] = []
    woke = asyncio.Event()

    def on_done(service_id: str) -> None:
        done.append(service_id)
        woke.set()

    driver = BuildDriver(
        builds=FakeBuilds(build_fn=build),
        deployments=deployments,  # type: ignore[arg-type]
        deploy_keys=None,
        on_done=on_done,
        retry_s=0.01,
    )
    await driver.ensure(PROJECT, SERVICE, GIT)
    await asyncio.wait_for(woke.wait(), 2)
    return deployments, done, driver


async def test_a_successful_build_marks_the_deployment_starting_with_the_built_tag() -> None:
    async def build(service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        assert (service_id, req.tag) == ("s1", "deploykit/shop-a1b2c3_api:d1234567aaaa")
        on_log("Step 1/2")
        on_log("Step 2/2")
        return BuildResult(image=req.tag, commit_sha="abc", commit_message="first")

    deployments, done, driver = await drive(build)

    assert deployments.calls == [
        ("building", GIT.id),
        ("log", "Step 1/2\nStep 2/2\n"),  # printed in one go: stored in one append
        ("starting", ("deploykit/shop-a1b2c3_api:d1234567aaaa", {"commit_sha": "abc", "commit_message": "first"})),
    ]
    assert done == ["s1"]
    assert not driver.building(GIT.id)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (Error(INVALID, "step 2 failed: exit 3\nbroken"), ["building", "log", "failed"]),
        (Error(CONFLICT, "superseded"), ["building", "log"]),
        (Error(UNAVAILABLE, "The Docker engine is not reachable."), ["building", "log"]),
    ],
    ids=["build-error-fails-it", "superseded-leaves-it", "engine-down-retries"],
)
async def test_a_failed_build(error: Error, expected: list[str]) -> None:
    """Its output is stored before its failure is recorded: a live log ends with the deployment,
    and it shows only what is stored."""

    async def build(service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        on_log("Step 2/2 : RUN exit 3")
        raise error

    deployments, done, driver = await drive(build)

    assert [name for name, _ in deployments.calls] == expected
    if "failed" in expected:
        failure = deployments.calls[-1][1]
        assert failure == DeploymentFailure(reason="build failed: step 2 failed: exit 3", log_tail=error.message)
    assert done == ["s1"]
    assert not driver.building(GIT.id), "a retry can start a new build"


@dataclass
class FakeKeys:
    asked: list[str] = field(default_factory=list)
    pinned: list[tuple[str, str]] = field(default_factory=list)

    async def get_deploy_key(self, service_id: str) -> Any:
        self.asked.append(service_id)
        return type("Pair", (), {"private_key": f"key of {service_id}"})()

    async def get_known_hosts(self, service_id: str) -> str | None:
        return f"hosts of {service_id}"

    async def set_known_hosts(self, service_id: str, known_hosts: str) -> None:
        self.pinned.append((service_id, known_hosts))


async def test_a_preview_clones_with_its_previewed_services_key_and_pins_hosts_there() -> None:
    seen: list[BuildRequest] = []

    async def build(service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        seen.append(req)
        return BuildResult(image=req.tag, commit_sha="abc", commit_message="m", known_hosts="new hosts")

    keys, woke = FakeKeys(), asyncio.Event()
    driver = BuildDriver(
        builds=FakeBuilds(build_fn=build),
        deployments=FakeDeployments(),  # type: ignore[arg-type]
        deploy_keys=keys,  # type: ignore[arg-type]
        on_done=lambda _: woke.set(),
    )
    hidden = replace(SERVICE, id="hidden", preview_of="s1")
    await driver.ensure(PROJECT, hidden, GIT, credentials_of="s1")
    await asyncio.wait_for(woke.wait(), 2)

    [req] = seen
    assert (req.deploy_key, req.known_hosts) == ("key of s1", "hosts of s1")
    assert (keys.asked, keys.pinned) == (["s1"], [("s1", "new hosts")])


async def test_cancelling_a_deleted_services_builds_stops_them() -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def build(service_id: str, req: BuildRequest, on_log: Callable[[str], None]) -> BuildResult:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.set()
            raise
        raise AssertionError("unreachable")

    deployments = FakeDeployments()
    driver = BuildDriver(
        builds=FakeBuilds(build_fn=build),
        deployments=deployments,  # type: ignore[arg-type]
        deploy_keys=None,
        on_done=lambda _: None,
    )
    await driver.ensure(PROJECT, SERVICE, GIT)
    await asyncio.wait_for(started.wait(), 2)

    assert await driver.cancel_service("another") == 0
    assert driver.building(GIT.id)
    assert await driver.cancel_service("s1") == 1
    assert stopped.is_set()
    assert not driver.building(GIT.id)
    assert "starting" not in [name for name, _ in deployments.calls]
