"""The access log: one line per request, with the query's values left out."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from deploykit_http.access_log import ACCESS_LOGGER, redacted_query
from deploykit_http.context import HTTPSettings
from tests.http.conftest import client_for, make_app
from tests.http.fakes import World


def access_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [rec.__dict__["fields"] for rec in caplog.records if rec.name == ACCESS_LOGGER]


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        (b"", ""),
        (b"token=secret", "token"),
        (b"limit=5&cursor=abc&limit=6", "limit&cursor"),
        (b"flag&x=", "flag&x"),
    ],
)
def test_the_query_keeps_its_names_and_loses_its_values(query: bytes, logged: str) -> None:
    assert redacted_query(query) == logged


async def test_every_request_is_logged_with_status_duration_request_id_and_user(
    world: World, settings: HTTPSettings, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(world, settings)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        async with client_for(app, None) as anonymous:
            health = await anonymous.get("/health", params={"token": "s3cret"})
        async with client_for(app, "member-token") as member:
            refused = await member.get("/users", params={"q": "ada@example.com"})
    records = access_records(caplog)

    assert [(r["method"], r["path"], r["status"], r["user"]) for r in records] == [
        ("GET", "/api/health?token", 200, "-"),
        ("GET", "/api/users?q", 403, "u-member"),
    ]
    assert [r["request_id"] for r in records] == [health.headers["x-request-id"], refused.headers["x-request-id"]]
    assert all(isinstance(r["duration_ms"], float) and r["duration_ms"] >= 0 for r in records)
    assert not any("s3cret" in rec.getMessage() or "ada@" in rec.getMessage() for rec in caplog.records)


async def test_no_access_log_when_it_is_turned_off(
    world: World, settings: HTTPSettings, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(world, dataclasses.replace(settings, access_log=False))
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        async with client_for(app, None) as c:
            assert (await c.get("/health")).status_code == 200
    assert access_records(caplog) == []
