"""``node_from_api``: one entry of the engine's ``GET /nodes`` as a domain Node."""

from __future__ import annotations

from typing import Any

import pytest

from deploykit.node import NodeAvailability, NodeRole, NodeState
from deploykit_swarm.nodes import node_from_api


def entry(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ID": "n1",
        "Spec": {"Role": "worker", "Availability": "active"},
        "Description": {
            "Hostname": "node-2",
            "Resources": {"NanoCPUs": 1_500_000_000, "MemoryBytes": 2 * 1024**3},
            "Engine": {"EngineVersion": "20.10.24"},
        },
        "Status": {"State": "ready", "Addr": "10.0.0.2"},
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("raw", "field", "want"),
    [
        (entry(), "cpus", 1.5),
        (entry(), "memory_bytes", 2 * 1024**3),
        (entry(), "address", "10.0.0.2"),
        # A manager listening on every address says 0.0.0.0; its control address says where it is.
        (
            entry(
                Status={"State": "ready", "Addr": "0.0.0.0"}, ManagerStatus={"Leader": True, "Addr": "192.0.2.2:2377"}
            ),
            "address",
            "192.0.2.2",
        ),
        (entry(ManagerStatus={"Leader": True, "Addr": "192.0.2.2:2377"}), "leader", True),
        (entry(Status={"State": "down", "Message": "heartbeat failure"}), "state", NodeState.DOWN),
        (entry(Status={"State": "down", "Message": "heartbeat failure"}), "message", "heartbeat failure"),
        (entry(Status={"State": "something-new"}), "state", NodeState.UNKNOWN),
        (entry(Spec={"Role": "manager", "Availability": "drain"}), "role", NodeRole.MANAGER),
        (entry(Spec={"Role": "manager", "Availability": "drain"}), "availability", NodeAvailability.DRAIN),
        (entry(Description={}), "hostname", ""),
    ],
)
def test_an_api_entry_becomes_a_node(raw: dict[str, Any], field: str, want: object) -> None:
    assert getattr(node_from_api(raw, running_tasks=2), field) == want
