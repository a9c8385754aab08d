"""A 2-replica service spread over two swarm nodes (the manager and a second engine in a network
namespace, joined as a worker), reached through the daemon's real Caddy at each replica's
``<node address>:<published port>``; when the worker's engine stops, Caddy keeps answering from
the manager's replica, and Swarm starts the worker's replica again on the manager, where the
daemon finds its new address and routes to it. The failover time is bench/swarm_failover.py's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.support import UNSETTLED
from tests.e2e.test_traffic import Load
from tests.nodes.conftest import skip_or_fail
from tests.nodes.spread import REPLICAS, Spread, spread_problem, spread_service, worker_containers
from tests.wait import wait_for_sync

pytestmark = [pytest.mark.docker, pytest.mark.caddy, pytest.mark.slow]


@pytest.fixture
def spread() -> Iterator[Spread]:
    why = spread_problem()
    if why is not None:
        skip_or_fail(why)
    with spread_service() as s:
        yield s


def test_replicas_on_both_nodes_answer_through_caddy_and_survive_the_workers_engine(spread: Spread) -> None:
    node = spread.node
    assert spread.nodes_running() == sorted([spread.manager_id, node.node_id])
    on_worker = worker_containers(node)
    answering = spread.bodies(12)
    assert len(answering) == REPLICAS
    # One answer is the hostname (the short id) of the container the worker's engine runs.
    [worker_host] = [h for h in answering if any(c.startswith(h) for c in on_worker)]

    def both_answer_without_the_worker() -> set[str] | None:
        bodies = spread.bodies(12)
        return bodies if len(bodies) == REPLICAS and worker_host not in bodies else None

    with Load(spread.proxy, spread.host, max_s=300) as load:
        wait_for_sync(lambda: len(load.results) >= 5, within=20, message="the load to start", retry_on=UNSETTLED)
        node.stop_engine()
        stopped_at = len(load.results)
        # Swarm notices the node is down and starts its task on the manager; the daemon routes to it.
        wait_for_sync(
            lambda: spread.nodes_running() == [spread.manager_id] * REPLICAS,
            within=180,
            interval=0.5,
            message="the worker's replica to run on the manager",
        )
        again = wait_for_sync(
            both_answer_without_the_worker,
            within=120,
            interval=0.5,
            message="two replicas answering through Caddy again",
            retry_on=UNSETTLED,
        )
        after = len(load.results)
    assert answering - {worker_host} <= again  # the manager's replica is the same one
    assert len(load.results[stopped_at:after]) > 10  # the load ran through the failover
    # Caddy tries the other replica when one cannot be dialled; only a request that the worker's
    # replica had accepted when its engine stopped it can fail.
    assert len(load.failures()) <= 1, load.failures()
    assert all(status == 200 for status, _ in load.results[-5:])
