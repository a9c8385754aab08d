"""A swarm worker's engine stops -> two replicas answering through Caddy again.

The setup is ``tests/nodes/spread.py``'s: ``deploykitd --runtime swarm`` with its real Caddy on the
shared engine (a single-node swarm manager), a second ``dockerd`` in a network namespace of its own
joined as a worker, and a busybox httpd service of two replicas (an HTTP health check), one on
each node, reached at ``<node address>:<published port>``. Then the worker's dockerd is stopped
(SIGTERM: it stops its containers), while one client sends requests through Caddy one after
the other (new connection each). Prints the seconds from the stop until

- the manager marks the worker ``down`` (its heartbeats are missed),
- Swarm runs the worker's replica on the manager again,
- two replicas answer through Caddy again (two hostnames, neither of them the worker's container),

and how many requests failed meanwhile. Every run builds the setup again (the stopped worker
does not come back); set-up and clean-up are not timed. Never passes or fails on time. Needs root,
``dockerd``, ``nsenter``, ``ip``, Caddy and the shared engine being a swarm manager.

    .venv/bin/python bench/swarm_failover.py [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nodes.second_node import run  # noqa: E402
from tests.nodes.spread import REPLICAS, Spread, spread_problem, spread_service, worker_containers  # noqa: E402

POLL_S = 0.1


class Client:
    """Requests through Caddy one at a time: (monotonic time, status, body); status 0 = transport error."""

    def __init__(self, spread: Spread) -> None:
        self.spread = spread
        self.results: list[tuple[float, int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = self.spread.proxy.get(self.spread.host, timeout=10)
                self.results.append((time.monotonic(), r.status_code, r.text.strip()))
            except httpx.HTTPError as exc:
                self.results.append((time.monotonic(), 0, repr(exc)))
            self._stop.wait(0.01)

    def __enter__(self) -> Client:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def first_times(checks: dict[str, Callable[[], bool]], within: float) -> dict[str, float]:
    """Monotonic time at which each check was first seen true (all polled every POLL_S, until all
    were); raises after ``within`` seconds."""
    start, seen = time.monotonic(), dict[str, float]()
    while len(seen) < len(checks):
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = time.monotonic()
        if time.monotonic() - start > within:
            raise TimeoutError(f"not within {within} s: {sorted(checks.keys() - seen.keys())}")
        time.sleep(POLL_S)
    return seen


def events(spread: Spread) -> list[str]:
    """The health monitor's events for the service (held out, restarted, rejoined)."""
    p = spread.proxy
    with p.admin.client() as c:
        body = c.get(f"/projects/{p.project_id}/services/{spread.service_id}/health/history").json()
    return [str(e) for e in body.get("events") or []]


def one_run() -> dict[str, Any]:
    with spread_service() as spread:
        node = spread.node
        answering = spread.bodies(12)
        on_worker = worker_containers(node)
        [worker_host] = [h for h in answering if any(c.startswith(h) for c in on_worker)]

        def both_back() -> bool:
            bodies = spread.bodies(6)
            return len(bodies) == REPLICAS and worker_host not in bodies

        with Client(spread) as client:
            while len(client.results) < 5:
                time.sleep(POLL_S)
            t0 = time.monotonic()
            node.stop_engine()
            stopped = time.monotonic() - t0
            seen = first_times(
                {
                    "down": lambda: node.manager_view()["Status"]["State"] == "down",
                    "moved": lambda: spread.nodes_running() == [spread.manager_id] * REPLICAS,
                    "back": both_back,
                },
                300,
            )
            down, moved, back = (seen[k] - t0 for k in ("down", "moved", "back"))
            during = [r for r in client.results if r[0] >= t0]
            how = run(
                "docker",
                "service",
                "ps",
                "--no-trunc",
                "--format",
                "{{.Node}} {{.CurrentState}} {{.Error}}",
                *spread.service_ids(),
            )
        return {
            "stopped": stopped,
            "down": down,
            "moved": moved,
            "back": back,
            "requests": float(len(during)),
            "failed": float(len([r for r in during if r[1] != 200])),
            "how": how,
            "failures": [(round(t - t0, 2), status, body[:120]) for t, status, body in during if status != 200],
            "events": events(spread),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    why = spread_problem()
    if why is not None:
        sys.exit(f"cannot run: {why}")
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        r = one_run()
        runs.append(r)
        print(
            f"  run {i + 1}: engine stopped in {r['stopped']:.2f} s; worker down after {r['down']:.1f} s; "
            f"its replica running on the manager after {r['moved']:.1f} s; both replicas answering through "
            f"Caddy after {r['back']:.1f} s; {int(r['failed'])} of {int(r['requests'])} requests failed meanwhile",
            flush=True,
        )
        print(f"    failed requests (s after the stop, status, body): {r['failures']}")
        print("    health monitor: " + "; ".join(r["events"]))
        print("    tasks after:\n      " + "\n      ".join(str(r["how"]).splitlines()), flush=True)
    back = [r["back"] for r in runs]
    print(
        f"swarm failover, {args.runs} run(s): worker engine stop -> 2 replicas answering again "
        f"median {statistics.median(back):.1f} s (min {min(back):.1f}, max {max(back):.1f}); "
        f"failed requests {sum(int(r['failed']) for r in runs)} of {sum(int(r['requests']) for r in runs)}"
    )


if __name__ == "__main__":
    main()
