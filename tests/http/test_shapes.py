"""The response shapes: timestamps as the domain formats them, and nothing a shape does not
declare reaches a client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploykit.clock import isoformat
from deploykit.project import Project
from deploykit_http.shapes import serialize
from deploykit_http.shapes.services import ProjectOut, project_out
from deploykit_sqlite.db import from_text, to_text


def timestamp(value: datetime | None) -> str | None:
    out: str | None = orjson.loads(serialize(datetime | None, value))
    return out


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_timestamps_are_written_as_the_domain_formats_them(value: datetime) -> None:
    assert timestamp(value) == isoformat(value)


def test_the_store_reads_timestamps_back_in_utc() -> None:
    """What lets the shapes pass timestamps as they are: a time stored in any zone comes back UTC."""
    stored = to_text(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    read = from_text(stored)
    assert read is not None
    assert read.tzinfo is UTC
    assert timestamp(read) == "2026-01-01T10:00:00Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (datetime(2026, 11, 23, 17, 2, 30, 429282, tzinfo=UTC), "2026-11-23T17:02:30.429282Z"),
        (datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T00:00:00Z"),
    ],
)
def test_timestamp_examples(value: datetime | None, expected: str | None) -> None:
    assert timestamp(value) == expected


def test_a_project_is_written_with_exactly_its_shapes_fields() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    out = project_out(Project(id="p1", name="Shop", slug="shop", created_at=at, updated_at=at))
    extra = {**out, "secret": "never sent"}
    assert orjson.loads(serialize(ProjectOut, extra)) == {
        "id": "p1",
        "name": "Shop",
        "slug": "shop",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
