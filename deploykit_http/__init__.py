"""The HTTP adapter: Starlette app, REST routes, auth, canvas WebSocket hub, SSE logs, the SPA.

Build it in the composition root from domain Protocols (no I/O, no globals)::

    app = build_app(Collaborators(auth=store.auth, ..., bus=bus, runtime=runtime, reconciler=reconciler),
                    HTTPSettings(version=__version__, cors_origins=("*",)))

The app's lifespan starts and stops the canvas hub; ``app.state.context.hub.stop()`` closes every
WebSocket with 1001 and ends event streams (the daemon calls it first on shutdown).
"""

from deploykit_http.app import build_app
from deploykit_http.context import Collaborators, Context, HTTPSettings

__all__ = ["Collaborators", "Context", "HTTPSettings", "build_app"]
