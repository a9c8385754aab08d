"""``IndexedRouter`` answers exactly as Starlette's scan would: the first route that matches in
order, 405 with every allowed method, slash redirects, 404, Mounts, and routes added later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Mount, Route, Router

from deploykit_http.routing import IndexedRouter


def routes() -> list[BaseRoute]:
    def named(text: str) -> Callable[[Request], Awaitable[PlainTextResponse]]:
        async def endpoint(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"{text} {sorted(request.path_params.items())}")

        return endpoint

    return [
        Route("/items/{item_id}", named("item"), methods=["GET"]),
        Route("/items/new", named("new"), methods=["GET", "POST"]),  # shadowed for GET by the route above
        Route("/things", named("things"), methods=["GET"]),
        Route("/things/", named("things slash"), methods=["DELETE"]),
        Route("/things", named("things post"), methods=["POST"]),
        Mount("/sub", routes=[Route("/leaf", named("leaf"), methods=["GET"])]),
    ]


def app(router_class: type[Router]) -> Starlette:
    inner = router_class(routes())
    return Starlette(routes=[Mount("/api", app=inner)])


REQUESTS = [
    ("GET", "/api/items/new"),
    ("POST", "/api/items/new"),
    ("GET", "/api/items/42"),
    ("PUT", "/api/items/42"),
    ("GET", "/api/things"),
    ("POST", "/api/things"),
    ("DELETE", "/api/things"),
    ("GET", "/api/things/"),
    ("GET", "/api/sub/leaf"),
    ("GET", "/api/sub/nothing"),
    ("GET", "/api/nothing"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_the_indexed_router_answers_as_starlettes_router(method: str, path: str) -> None:
    answers = []
    for router_class in (Router, IndexedRouter, IndexedRouter):  # twice: the second one is indexed
        transport = httpx.ASGITransport(app=app(router_class))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(2):
                r = await client.request(method, path, follow_redirects=False)
                answers.append((r.status_code, r.headers.get("allow"), r.headers.get("location"), r.text))
    assert all(a == answers[0] for a in answers), answers


async def test_a_route_added_after_the_first_request_is_found() -> None:
    router = IndexedRouter(routes())
    transport = httpx.ASGITransport(app=Starlette(routes=[Mount("/api", app=router)]))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/api/things")).text == "things []"

        async def first(request: Request) -> PlainTextResponse:
            return PlainTextResponse("first")

        router.routes.insert(0, Route("/things", first, methods=["GET"]))
        assert (await client.get("/api/things")).text == "first"
