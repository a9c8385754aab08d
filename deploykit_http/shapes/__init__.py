"""The API's response shapes: one ``TypedDict`` per entity, beside the function that fills it
from the domain entity (``ServiceOut`` and ``service_out(svc)``...).

Each shape is the one definition of its JSON: the OpenAPI document is generated from it, and an
endpoint serializes its handler's result through it (``serialize``), so a field the shape does not
declare never reaches a client. mypy checks each filling function against its shape.

Timestamps are written by pydantic-core, ISO-8601 with ``Z`` for UTC. The domain's are UTC (the
store reads and writes UTC, the clock and the runtime give UTC), so they are passed as they are:
converting each again would cost a tenth of a list page's serialization.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter


@cache
def adapter(shape: Any) -> TypeAdapter[Any]:
    """Built on first use: most shapes are needed by few requests, and building them all at start
    would cost the idle daemon memory for nothing."""
    return TypeAdapter(shape)


def serialize(shape: Any, value: Any) -> bytes:
    """``value`` as JSON through ``shape``; keys the shape lacks are dropped. Values are not
    type-checked here (``warnings=False``): mypy checks the filling functions against their
    shapes and the schemathesis suite every answer against the document, and checking again on
    each request would cost the project list a tenth of its serialization."""
    return adapter(shape).dump_json(value, warnings=False)


def page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    """A list page, ``{data, total_count, offset, limit}``: each entity's ``XPage`` shape."""
    return {"data": items, "total_count": total, "offset": offset, "limit": limit}
