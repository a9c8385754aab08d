"""``IndexedRouter``: Starlette's router with the routes a path can match looked up, not scanned.

Starlette tries every route in order until one matches: a request to the API's twentieth route
ran twenty regular expressions first (a fifth of an authenticated project list's time in the
server). This router keeps, per path it has seen, the routes whose pattern matches that path, in
their order, and tries only those: the first full match among them is the first full match of
the whole list (a route whose pattern does not match the path cannot match at all). Anything
else (a method not allowed, a slash to redirect, no route) goes through Starlette's own scan, so
answers are exactly Starlette's.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

MAX_PATHS = 1024
"""Paths remembered at most (ids make the API's paths unbounded); the index restarts when full."""


class IndexedRouter(Router):
    def __init__(self, routes: list[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes, **kwargs)
        self._candidates: dict[str, tuple[BaseRoute, ...]] = {}
        self._indexed = -1
        """How many routes the index was made for: a route added or removed later restarts it."""

    def _for_path(self, path: str) -> tuple[BaseRoute, ...]:
        if len(self.routes) != self._indexed or len(self._candidates) >= MAX_PATHS:
            self._candidates.clear()
            self._indexed = len(self.routes)
        found = self._candidates.get(path)
        if found is None:
            found = tuple(route for route in self.routes if _may_match(route, path))
            self._candidates[path] = found
        return found

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope.setdefault("router", self)
            for route in self._for_path(get_route_path(scope)):  # the path below a Mount
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)


def _may_match(route: BaseRoute, path: str) -> bool:
    """Whether ``route`` may match ``path``: False only when its pattern surely does not."""
    if isinstance(route, Route | WebSocketRoute | Mount):
        return route.path_regex.match(path) is not None
    return True
