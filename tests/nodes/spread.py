"""A DeployKit service of two replicas spread over two swarm nodes, behind a real Caddy: the local
engine (the manager, where ``deploykitd --runtime swarm`` and its Caddy run) and a second engine in
a network namespace joined as a worker (``second_node``). Shared by ``test_spread.py`` and
``bench/swarm_failover.py``.

The worker is active only while the service's replicas are being placed, and *paused* after (it
keeps its task but takes no new ones), so that other suites' swarm services on the shared engine
are not placed on a node that this module stops.

Clean-up, always and in this order: the daemon stops; a stopped worker engine is started again
(so that the manager can reap the task it had, instead of a service being removed while its task
is deleted with its node: the 20.10 engine crash of docs/scale-out.md); the services are scaled
to 0, reaped and removed; the networks go; the worker leaves the swarm, its entry is removed
(``docker node rm``), its dockerd stops and its namespace is deleted.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import TEST_IMAGE
from tests.e2e.support import UNSETTLED, Daemon, create_project, free_port, register_admin, remove_engine_objects
from tests.e2e.test_swarm_traffic import remove_swarm_services
from tests.e2e.test_traffic import CADDY_BIN, Proxy, caddy_skip_reason, web_service
from tests.nodes.second_node import SecondNode, problem, run, second_node
from tests.runtime_contract.conftest import swarm_problem
from tests.wait import wait_for_sync

REPLICAS = 2


@dataclass
class Spread:
    proxy: Proxy
    node: SecondNode
    manager_id: str
    host: str
    """The service's generated hostname (Caddy routes it to the replicas)."""
    instance: str
    service_id: str = ""

    def service_ids(self) -> list[str]:
        """The Swarm services of the daemon (one per replica)."""
        return run("docker", "service", "ls", "-q", "--filter", f"label=deploykit.instance={self.instance}").split()

    def tasks(self) -> list[tuple[str, str]]:
        """(node id, container id) of each running task of the service's Swarm services."""
        ids = self.service_ids()
        if not ids:
            return []
        out = run("docker", "service", "ps", "-q", "--filter", "desired-state=running", *ids).split()
        tasks = json.loads(run("docker", "inspect", *out)) if out else []
        return [
            (str(t["NodeID"]), str(((t["Status"].get("ContainerStatus") or {}).get("ContainerID")) or ""))
            for t in tasks
            if t["Status"]["State"] == "running"
        ]

    def nodes_running(self) -> list[str]:
        return sorted(node for node, _ in self.tasks())

    def bodies(self, n: int) -> set[str]:
        """The distinct answers (container hostnames) of ``n`` requests through Caddy."""
        return {b for b in (self.proxy.body(self.host) for _ in range(n)) if b}


def spread_problem() -> str | None:
    return caddy_skip_reason() or swarm_problem() or problem()


def _engine_back(node: SecondNode) -> None:
    if not node.engine_answers():
        node.start_engine()
        with contextlib.suppress(AssertionError):
            wait_for_sync(
                lambda: node.manager_view()["Status"]["State"] == "ready",
                within=60,
                interval=0.2,
                message="the worker to be ready again",
            )


@contextlib.contextmanager
def spread_service() -> Iterator[Spread]:
    """The daemon, its Caddy, the worker, and a deployed 2-replica service with one replica on
    each node, both answering through Caddy."""
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(second_node(images=(TEST_IMAGE,), availability="drain"))
        data_dir = Path(tempfile.mkdtemp(prefix="dksp-"))  # short: Caddy's admin socket lives in it
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        instance = f"e2e-spread-{uuid.uuid4().hex[:8]}"
        stack.callback(remove_engine_objects, instance)
        stack.callback(remove_swarm_services, instance)
        stack.callback(_engine_back, node)
        http_port, https_port = free_port(), free_port()
        flags = ["--runtime", "swarm", "--instance-id", instance, "--reconcile-interval", "2s"]
        flags += ["--caddy-bin", CADDY_BIN, "--http-port", str(http_port), "--https-port", str(https_port)]
        flags += ["--no-https-redirect"]
        daemon = Daemon(data_dir / "data", docker=True, ingress=True, extra_args=flags)
        daemon.start()
        stack.callback(lambda: daemon.terminate() if daemon.proc is not None else None)
        p = Proxy(daemon, register_admin(daemon), http_port, https_port)
        p.project_id = create_project(p.admin, "Spread")["id"]
        manager_id = run("docker", "info", "--format", "{{.Swarm.NodeID}}").strip()
        spread = Spread(proxy=p, node=node, manager_id=manager_id, host="", instance=instance)
        node.set_availability("active")
        try:
            with p.admin.client() as c:
                body = {**web_service("web"), "replicas": REPLICAS}
                staged = c.post(f"/projects/{p.project_id}/services", json=body).json()
                ids = c.post(f"/projects/{p.project_id}/deploy").json()["temp_id_to_service_id"]
                spread.service_id = ids[staged["target_temp_id"]]
                spread.host = c.get(f"/projects/{p.project_id}/services/{spread.service_id}").json()["domains"][0]
            # Placed (not necessarily running yet): from now on the worker takes no new tasks.
            wait_for_sync(
                lambda: _placed(instance) == REPLICAS,
                within=90,
                interval=0.2,
                message="both replicas to be placed",
            )
        finally:
            node.set_availability("pause")
        try:
            wait_for_sync(
                lambda: len(spread.bodies(8)) == REPLICAS,
                within=150,
                interval=0.5,
                message="both replicas to answer through Caddy",
                retry_on=UNSETTLED,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{daemon.log()[-6000:]}") from None
        yield spread


def _placed(instance: str) -> int:
    ids = run("docker", "service", "ls", "-q", "--filter", f"label=deploykit.instance={instance}").split()
    if not ids:
        return 0
    out = run("docker", "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", *ids)
    return len([line for line in out.splitlines() if line.strip()])


def worker_containers(node: SecondNode) -> set[str]:
    """Ids of the containers that the worker's engine runs."""
    return set(node.docker("ps", "-q", "--no-trunc").split())
