"""The runtime contract: the same reconciler-driven scenarios against each Runtime adapter.

``harness`` is parametrized over ``docker`` (containers on the engine) and ``swarm`` (Swarm
services on the same engine as a single-node swarm manager: ``scripts/ensure-swarm.sh``, which
``make test`` runs). Without a swarm manager the swarm cases skip, or fail under
``DEPLOYKIT_REQUIRE_DOCKER=1``.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from functools import cache

import pytest

from deploykit.runtime import Runtime
from deploykit_docker import DockerRuntime
from deploykit_events.bus import EventBus
from deploykit_sqlite import Store
from deploykit_swarm import SwarmRuntime, SwarmSettings
from tests.conftest import docker_required
from tests.reconciler.support import FAST, Harness, docker_cli

RUNTIMES = ["docker", "swarm"]


@cache
def swarm_problem() -> str | None:
    try:
        out = subprocess.run(
            ["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "docker info did not answer"
    if out.stdout.strip() != "active true":
        return "the engine is not a swarm manager (run scripts/ensure-swarm.sh)"
    return None


async def open_runtime(
    kind: str, swarm_settings: SwarmSettings | None = None
) -> tuple[Runtime, list[DockerRuntime | SwarmRuntime]]:
    """The runtime under test and what to close after."""
    engine = DockerRuntime()
    await engine.open()
    if kind == "docker":
        return engine, [engine]
    problem = swarm_problem()
    if problem is not None:
        await engine.close()
        if docker_required():
            pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    swarm = SwarmRuntime(engine, settings=swarm_settings)
    await swarm.open()
    await swarm.require_manager()
    return swarm, [swarm, engine]


@pytest.fixture(params=RUNTIMES)
def runtime_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def harness(test_image: str, runtime_kind: str) -> AsyncIterator[Harness]:
    """A store, a bus, the runtime under test and a started reconciler; everything removed after."""
    bus = EventBus()
    store = Store(path=":memory:", bus=bus, bcrypt_rounds=4)
    await store.open()
    runtime, closers = await open_runtime(runtime_kind)
    h = Harness(store=store, bus=bus, runtime=runtime, settings=FAST, image=test_image)  # type: ignore[arg-type]
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
        await h.cleanup()
        for c in closers:
            await c.close()
        await store.close()


async def engine_container(kind: str, replica_id: str) -> str:
    """The engine container behind a replica: itself (docker) or its Swarm service's running task."""
    if kind == "docker":
        return replica_id
    out = await docker_cli(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.id={replica_id}", "--filter", "status=running"
    )
    ids = out.split()
    assert len(ids) == 1, f"one running task container of {replica_id}, found {ids}"
    return ids[0]
