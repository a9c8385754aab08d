"""The access log: one line per request (method, path, status, duration, request id, user).

Query strings keep their parameter names and lose their values (``/api/x?limit&token``): a token
or a search term in a URL never reaches the log. The user is the id the endpoint wrapper put in
the request's state after authenticating (``-`` for anonymous requests). Lines go to the
``deploykit.access`` logger with the fields also attached as ``record.fields``, so that the
daemon's JSON log format writes them as keys.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "deploykit.access"


def redacted_query(query_string: bytes) -> str:
    """``a=1&b=2&a=3`` -> ``a&b``: the names, in order, once each, without the values."""
    names: list[str] = []
    for part in query_string.decode("latin-1").split("&"):
        name = part.split("=", 1)[0]
        if name and name not in names:
            names.append(name)
    return "&".join(names)


class AccessLogMiddleware:
    """Pure ASGI (streaming responses pass through unbuffered); outermost, so that a request
    answered by the edge middleware (413) is logged too. A WebSocket is logged when it ends,
    with 101 when it was accepted (403 when it was refused before that)."""

    def __init__(self, app: ASGIApp, *, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status == 0:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except BaseException:
            status = status or 500
            raise
        finally:
            self._write(scope, status, time.perf_counter() - started)

    def _write(self, scope: Scope, status: int, duration_s: float) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        query = redacted_query(scope.get("query_string", b""))
        path = scope.get("path", "") + (f"?{query}" if query else "")
        method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration_s * 1000, 1),
            "request_id": state.get("request_id") or "-",
            "user": state.get("user_id") or "-",
        }
        self.log.info(
            "%s %s %s %.1fms request_id=%s user=%s",
            method,
            path,
            status,
            fields["duration_ms"],
            fields["request_id"],
            fields["user"],
            extra={"fields": fields},
        )
