"""The HTTP app over fakes, driven in-process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from deploykit_http.app import build_app
from deploykit_http.context import Context, HTTPSettings
from tests.http.fakes import World

Open = Callable[..., "AsyncIterator[httpx.AsyncClient]"]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def settings(tmp_path: Path) -> HTTPSettings:
    return HTTPSettings(version="9.9.9", spa_dir=tmp_path / "spa", sse_ping_s=0.05)


def make_app(world: World, settings: HTTPSettings) -> Starlette:
    return build_app(world.collaborators(), settings)


@asynccontextmanager
async def client_for(app: Starlette, token: str | None = "admin-token") -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api", headers=headers) as c:
        yield c


def context_of(app: Starlette) -> Context:
    ctx: Context = app.state.context
    return ctx
