"""Shared fixtures. Tests marked ``docker`` need a real engine: they skip without one, except when
``DEPLOYKIT_REQUIRE_DOCKER=1`` (CI), where a missing engine fails them instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.collection_guard import CollectionGuard

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


SWARM_TESTS = (
    "tests/nodes/",
    "tests/runtime_contract/",
    "tests/e2e/test_swarm_traffic.py",
    "tests/e2e/test_backup_swarm.py",
    "tests/e2e/test_ui_swarm.py",
)
"""Tests that create and remove Swarm services on the shared engine. The suite runs on several
pytest-xdist workers (``--dist loadgroup``, see the Makefile), a file's tests together; these
files run one at a time on one worker, because swarmkit of Docker 20.10 has crashed when services
were removed while other services' tasks were being reaped (moby/swarmkit#3216), and tests/nodes/ joins a second node."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve()
        relative = path.relative_to(config.rootpath).as_posix() if path.is_relative_to(config.rootpath) else ""
        # A file's tests stay together, in order, on one worker: several share a module-scoped
        # daemon or machine that earlier tests leave in the state later ones start from.
        item.add_marker(pytest.mark.xdist_group("swarm" if relative.startswith(SWARM_TESTS) else relative))


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CollectionGuard(Path(__file__).parent), "deploykit-collection-guard")
