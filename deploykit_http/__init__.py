"""The HTTP adapter: Starlette app, REST routes, auth, canvas WebSocket hub, SSE logs, the SPA;
and, in ``deploykit_http.client``, a client of the same API.

Build it in the composition root from domain Protocols (no I/O, no globals)::

    app = build_app(Collaborators(auth=store.auth, ..., bus=bus, runtime=runtime, restarter=reconciler),
                    HTTPSettings(version=__version__, cors_origins=("*",)))

The app's lifespan starts and stops the canvas hub; ``app.state.context.hub.stop()`` closes every
WebSocket with 1001 and ends event streams (the daemon calls it first on shutdown).

The server's names are imported when first used, so that importing the client (``dk`` and other
tools) does not load Starlette, pydantic and the routes: a quarter of a second on every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploykit_http.app import build_app
    from deploykit_http.context import Collaborators, Context, HTTPSettings

__all__ = ["Collaborators", "Context", "HTTPSettings", "build_app"]

_HOMES = {
    "build_app": "deploykit_http.app",
    **dict.fromkeys(("Collaborators", "Context", "HTTPSettings"), "deploykit_http.context"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'deploykit_http' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
