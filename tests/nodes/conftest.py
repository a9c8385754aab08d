"""``registry``: a Docker registry the test starts on a loopback port. ``worker``: a second Docker engine in a network namespace, joined to the local swarm as a
worker (``second_node``), for one test module; drained until a test activates it, so the swarm
places nobody else's tasks there meanwhile."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_IMAGE, docker_problem, docker_required
from tests.nodes.second_node import SecondNode, problem, second_node
from tests.wait import wait_for_sync


def skip_or_fail(why: str) -> None:
    if docker_required():
        pytest.fail(f"DEPLOYKIT_REQUIRE_DOCKER=1 but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def worker() -> Iterator[SecondNode]:
    why = docker_problem() or problem()
    if why is not None:
        skip_or_fail(why)
    with second_node(images=(TEST_IMAGE,)) as node:
        yield node


REGISTRY_BIN = "/usr/bin/docker-registry"


def start_registry(root: Path, addr: str) -> subprocess.Popen[bytes]:
    """The CNCF distribution registry (Debian's ``docker-registry``) on ``addr``, storing in
    ``root``; answers once ``GET /v2/`` does."""
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '{addr}'}}\n"
    )
    log = (root / "registry.log").open("ab")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {(root / 'registry.log').read_text(errors='replace')}")
        return httpx.get(f"http://{addr}/v2/", timeout=2).status_code == 200

    wait_for_sync(answers, within=30, interval=0.1, message="the registry to answer", retry_on=(httpx.HTTPError,))
    return proc


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A registry on a free loopback port (engines trust loopback registries over plain HTTP)."""
    if not Path(REGISTRY_BIN).exists():
        skip_or_fail(f"{REGISTRY_BIN} is missing (Debian's docker-registry; scripts/ensure-system-packages.sh)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"127.0.0.1:{port}"
    proc = start_registry(tmp_path, addr)
    try:
        yield addr
    finally:
        proc.terminate()
        proc.wait(timeout=15)
