"""The Starlette app, built by a function from Protocol-typed collaborators (no globals)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from deploykit_http.access_log import AccessLogMiddleware
from deploykit_http.context import Collaborators, Context, HTTPSettings
from deploykit_http.endpoint import Endpoint, http_error, to_routes
from deploykit_http.hub import CanvasHub
from deploykit_http.identity import Identities
from deploykit_http.middleware import EdgeMiddleware
from deploykit_http.ratelimit import LoginLimiter, RequestLimiter
from deploykit_http.routes import (
    audit,
    auth,
    backups,
    compose,
    domains,
    engine,
    env_vars,
    health,
    metrics,
    nodes,
    notifications,
    pending_changes,
    previews,
    projects,
    runtime,
    services,
    system,
    users,
    webhooks,
)
from deploykit_http.routing import IndexedRouter
from deploykit_http.spa import SPA


def api_endpoints(ctx: Context) -> list[Endpoint]:
    return [
        *system.endpoints(ctx),
        *backups.endpoints(ctx),
        *engine.endpoints(ctx),
        *nodes.endpoints(ctx),
        *auth.endpoints(ctx),
        *users.endpoints(ctx),
        *projects.endpoints(ctx),
        *services.endpoints(ctx),
        *compose.endpoints(ctx),
        *runtime.endpoints(ctx),
        *domains.endpoints(ctx),
        *health.endpoints(ctx),
        *metrics.endpoints(ctx),
        *env_vars.endpoints(ctx),
        *pending_changes.endpoints(ctx),
        *webhooks.endpoints(ctx),
        *previews.endpoints(ctx),
        *notifications.endpoints(ctx),
        *audit.endpoints(ctx),
    ]


def build_context(c: Collaborators, settings: HTTPSettings) -> Context:
    identities = Identities(c.auth, c.clock, ttl_s=settings.identity_cache_s)
    limiter = LoginLimiter(c.clock, per_account_address=settings.login_max_failures)
    requests = RequestLimiter(c.clock, rate=settings.api_rate, burst=settings.api_burst)
    hub = CanvasHub(c, settings, identities)
    ctx = Context(c=c, settings=settings, identities=identities, limiter=limiter, requests=requests, hub=hub)
    return ctx


def openapi_document(version: str = HTTPSettings.version) -> dict[str, Any]:
    """The document ``/api/openapi.json`` serves, built without a daemon (``make api-types``): the
    endpoints are declared over collaborators that are never called, since no handler runs."""
    unused: Any = None
    required = [
        f.name for f in dataclasses.fields(Collaborators) if f.default is f.default_factory is dataclasses.MISSING
    ]
    c = Collaborators(**dict.fromkeys(required, unused))
    from deploykit_http.openapi import build_openapi

    return build_openapi(api_endpoints(build_context(c, HTTPSettings(version=version))), version)


def build_app(c: Collaborators, settings: HTTPSettings | None = None) -> Starlette:
    """The whole HTTP surface: ``/api/*`` (REST, OpenAPI, the canvas WebSocket) and the SPA.

    The app's lifespan starts and stops the canvas hub; ``app.state.context`` exposes the context
    (the daemon closes sockets through ``context.hub`` on shutdown)."""
    settings = settings or HTTPSettings()
    ctx = build_context(c, settings)
    endpoints = api_endpoints(ctx)
    document: dict[str, Any] = {}

    async def openapi_json(request: Request) -> Response:
        # Built on first request: most daemons never serve it, and it costs memory to build (the
        # module too: the canvas messages' schemas are built when it is imported).
        if not document:
            from deploykit_http.openapi import build_openapi

            document.update(build_openapi(endpoints, settings.version))
        return JSONResponse(document)

    api_routes: list[Any] = list(to_routes(endpoints, ctx.identities, ctx.requests, c.data_version))
    api_routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    api_routes.append(WebSocketRoute("/projects/{project_id}/canvas/ws", ctx.hub.serve))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.hub.start()
        try:
            yield
        finally:
            await ctx.hub.stop()

    spa = SPA(settings.spa_dir)
    origins = list(settings.cors_origins)
    app = Starlette(
        routes=[
            Mount("/api", app=IndexedRouter(api_routes)),
            Route("/{path:path}", spa.serve, methods=["GET", "HEAD"]),
        ],
        middleware=[
            *([Middleware(AccessLogMiddleware)] if settings.access_log else []),
            Middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes),
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
                expose_headers=["Retry-After", "X-Request-ID"],
                max_age=600,
            ),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.context = ctx
    return app
