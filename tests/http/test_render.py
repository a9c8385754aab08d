"""The JSON shapes' timestamp formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from deploykit.clock import isoformat
from deploykit_http.render import iso

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_iso_formats_every_instant_as_the_domain_does(value: datetime) -> None:
    assert iso(value) == isoformat(value)


def test_iso_examples() -> None:
    assert iso(None) is None
    assert iso(datetime(2026, 11, 23, 17, 2, 30, 429282, tzinfo=UTC)) == "2026-11-23T17:02:30.429282Z"
    assert iso(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
    assert iso(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-01T10:00:00Z"
