"""Shared fixtures. Tests marked ``docker`` need a real engine: they skip without one, except when
``DEPLOYKIT_REQUIRE_DOCKER=1`` (CI), where a missing engine fails them instead."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.collection_guard import CollectionGuard

if TYPE_CHECKING:
    from deploykit_docker import DockerRuntime

pytest_plugins = ["pytester"]

TEST_IMAGE = os.environ.get("DEPLOYKIT_TEST_IMAGE", "deploykit-test/busybox:latest")


def docker_required() -> bool:
    return os.environ.get("DEPLOYKIT_REQUIRE_DOCKER") == "1"


@cache
def docker_problem() -> str | None:
    """Why Docker tests cannot run here, or None when they can."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH (run scripts/ensure-docker.sh)"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if info.returncode != 0:
        return "no Docker engine answers (run scripts/ensure-docker.sh)"
    image = subprocess.run(["docker", "image", "inspect", TEST_IMAGE], capture_output=True, timeout=20)
    if image.returncode != 0:
        return f"the offline test image {TEST_IMAGE} is missing (run scripts/build-test-image.sh)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    problem = docker_problem()
    if problem is None:
        return
    if docker_required():
        pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def test_image() -> str:
    return TEST_IMAGE


@pytest.fixture
async def runtime() -> AsyncIterator[DockerRuntime]:
    """A DockerRuntime on the local engine, closed afterwards."""
    from deploykit_docker import DockerRuntime

    rt = DockerRuntime()
    await rt.open()
    try:
        yield rt
    finally:
        await rt.close()


SWARM_TESTS = (
    "tests/nodes/",
    "tests/runtime_contract/",
    "tests/e2e/test_swarm_traffic.py",
    "tests/e2e/test_backup_swarm.py",
    "tests/e2e/test_ui_swarm.py",
)
"""Test files that create and remove Swarm services on the shared engine. The suite runs on several
pytest-xdist workers, a file at a time (``--dist loadfile``, see the Makefile: several files share
a module-scoped daemon or machine that earlier tests leave in the state later ones start from);
these files run one at a time, under a lock, because swarmkit of Docker 20.10 has crashed when
services were removed while other services' tasks were being reaped (moby/swarmkit#3216), and
tests/nodes/ joins a second node."""

SWARM_LOCK = Path(tempfile.gettempdir()) / "deploykit-tests-swarm.lock"


@pytest.fixture(scope="module", autouse=True)
def one_swarm_file_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    path = request.path.resolve()
    root = request.config.rootpath
    if not (path.is_relative_to(root) and path.relative_to(root).as_posix().startswith(SWARM_TESTS)):
        yield
        return
    with SWARM_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CollectionGuard(Path(__file__).parent), "deploykit-collection-guard")
