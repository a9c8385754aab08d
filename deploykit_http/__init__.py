"""The HTTP adapter: Starlette app, REST routes, auth, canvas WebSocket hub, SSE logs, the SPA."""
