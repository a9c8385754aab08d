"""deploykit_swarm.convert without an engine: the published port and the placement of a replica's
service, and the address a task is reached at (its node's, on the port published for it)."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.runtime import ContainerSpec, VolumeMount, container_labels
from deploykit_swarm import convert


def spec(**kw: Any) -> ContainerSpec:
    base: dict[str, Any] = {
        "name": "dk_shop_web_0_d1",
        "image": "deploykit-test/busybox:latest",
        "labels": container_labels("p1", "s1", "d1", 0),
        "network": "dk-shop",
        "port": 8080,
    }
    return ContainerSpec(**{**base, **kw})


def test_the_port_is_published_in_host_mode_on_a_port_the_node_picks() -> None:
    body = convert.service_body(spec(), node_id="mgr")
    assert body["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [{"Protocol": "tcp", "TargetPort": 8080, "PublishMode": "host"}],
    }
    assert body["TaskTemplate"]["Networks"] == [{"Target": "dk-shop", "Aliases": []}]
    assert "Placement" not in body["TaskTemplate"]
    assert convert.service_body(spec(port=None), node_id="mgr")["EndpointSpec"] == {"Mode": "dnsrr"}


def test_a_placed_replica_has_a_constraint_that_names_its_node() -> None:
    body = convert.service_body(spec(), node_id="mgr", place_on="n2")
    assert body["TaskTemplate"]["Placement"] == {"Constraints": ["node.id==n2"]}
    assert convert.placed_node({"Spec": body}) == "n2"
    # A service pinned to its volume's node is not one that the runtime places and releases.
    pinned = convert.service_body(spec(volumes=[VolumeMount("dk_shop_data", "/data")]), node_id="mgr")
    assert pinned["TaskTemplate"]["Placement"] == {"Constraints": ["node.id==mgr"]}
    assert convert.placed_node({"Spec": pinned}) is None


def node(id: str, addr: str, manager: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": id, "Status": {"State": "ready", "Addr": addr}}
    if manager is not None:
        out["ManagerStatus"] = {"Addr": manager}
    return out


def test_node_addresses_fall_back_to_the_managers_address() -> None:
    nodes = [node("m", "0.0.0.0", "192.0.2.2:2377"), node("w", "198.18.77.2"), node("x", "")]
    assert convert.node_addresses(nodes) == {"m": "192.0.2.2", "w": "198.18.77.2"}


def task(node_id: str, ports: list[tuple[int, int]], state: str = "running") -> dict[str, Any]:
    return {
        "ID": "t1",
        "NodeID": node_id,
        "DesiredState": "running",
        "CreatedAt": "2026-12-06T00:00:00Z",
        "Status": {
            "State": state,
            "Timestamp": "2026-12-06T00:00:01Z",
            "PortStatus": {
                "Ports": [
                    {"Protocol": "tcp", "TargetPort": t, "PublishedPort": p, "PublishMode": "host"} for t, p in ports
                ]
            },
        },
    }


def test_a_running_task_is_reached_at_its_nodes_address_on_the_first_published_port() -> None:
    service = {"ID": "svc", "Spec": convert.service_body(spec(), node_id=None)}
    nodes = {"w": "198.18.77.2"}
    # 20.10 may pick another port for the IPv6 binding, listed second.
    state = convert.state_of(service, [task("w", [(8080, 32807), (8080, 32805)])], nodes, 0)
    assert (state.state, state.ip_address, state.ports) == ("running", "198.18.77.2", {8080: 32807})
    assert state.endpoint(8080) == "198.18.77.2:32807"
    # Running but its port not reported yet: no address, so nothing routes or probes it.
    assert convert.state_of(service, [task("w", [])], nodes, 0).ip_address is None


@pytest.mark.parametrize(
    ("desired", "state", "to_reap"),
    [
        ("running", "running", True),
        ("running", "starting", True),
        ("remove", "running", True),  # scaled down, stopping: the reaper deletes it once stopped
        ("remove", "shutdown", True),
        ("shutdown", "running", True),  # replaced, not stopped yet
        ("shutdown", "failed", False),  # a crash loop's history: stays until the service goes
        ("shutdown", "complete", False),
    ],
)
def test_a_task_is_waited_for_while_it_runs_or_the_reaper_has_it(desired: str, state: str, to_reap: bool) -> None:
    assert convert.to_reap({"DesiredState": desired, "Status": {"State": state}}) is to_reap
