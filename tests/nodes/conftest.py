"""``worker``: a second Docker engine in a network namespace, joined to the local swarm as a
worker (``second_node``), for one test module; drained until a test activates it, so the swarm
places nobody else's tasks there meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import TEST_IMAGE, docker_problem, docker_required
from tests.nodes.second_node import SecondNode, problem, second_node


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
