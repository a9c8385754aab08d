"""The engine's nodes (admins only): list them, drain or activate one, and the command that
joins a new worker to the swarm."""

from __future__ import annotations

from typing import Any

from deploykit.node import NodeAvailability, NodeService
from deploykit_http.context import Context
from deploykit_http.endpoint import Access, Call, Endpoint
from deploykit_http.errors import unavailable
from deploykit_http.shapes.nodes import JoinCommandOut, NodeList, NodeOut, join_command_out, node_out


def endpoints(ctx: Context) -> list[Endpoint]:
    def nodes() -> NodeService:
        if ctx.c.nodes is None:
            raise unavailable("The container engine")
        return ctx.c.nodes

    async def list_nodes(call: Call) -> Any:
        found = await nodes().list_nodes()
        return {"data": [node_out(n) for n in found], "total_count": len(found)}

    async def drain(call: Call) -> Any:
        return node_out(await nodes().set_availability(call.params["node_id"], NodeAvailability.DRAIN))

    async def activate(call: Call) -> Any:
        return node_out(await nodes().set_availability(call.params["node_id"], NodeAvailability.ACTIVE))

    async def join(call: Call) -> Any:
        return join_command_out(await nodes().join_command())

    return [
        Endpoint(
            "GET",
            "/nodes",
            list_nodes,
            "The machines services run on: the swarm's nodes, or the one local engine",
            "nodes",
            Access.ADMIN,
            response=NodeList,
            errors=(403, 503),
        ),
        Endpoint(
            "GET",
            "/nodes/join",
            join,
            "The command that joins a new machine to the swarm as a worker",
            "nodes",
            Access.ADMIN,
            response=JoinCommandOut,
            errors=(403, 409, 503),
        ),
        Endpoint(
            "POST",
            "/nodes/{node_id}/drain",
            drain,
            "Move a node's tasks to the other nodes and give it no new ones",
            "nodes",
            Access.ADMIN,
            response=NodeOut,
            errors=(403, 404, 409, 503),
        ),
        Endpoint(
            "POST",
            "/nodes/{node_id}/activate",
            activate,
            "Let a drained node take tasks again",
            "nodes",
            Access.ADMIN,
            response=NodeOut,
            errors=(403, 404, 409, 503),
        ),
    ]
