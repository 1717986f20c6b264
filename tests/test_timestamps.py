"""The canonical spelling of instants that reach a bookmark."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_mega.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    normalize_timestamp,
    parse_timestamp,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("2026-07-01T18:20:00.000Z", "2026-07-01T18:20:00.000000Z"),
        ("2026-07-01T18:20:00.123Z", "2026-07-01T18:20:00.123000Z"),
        ("2026-07-01 18:20:00.123Z", "2026-07-01T18:20:00.123000Z"),
        ("2026-07-01T18:20:00Z", "2026-07-01T18:20:00.000000Z"),
        ("2026-07-01T18:20:00.1Z", "2026-07-01T18:20:00.100000Z"),
        ("2026-07-01T20:20:00.123456+02:00", "2026-07-01T18:20:00.123456Z"),
        ("2026-07-01T18:20:00", "2026-07-01T18:20:00.000000Z"),
        ("2026-07-01", "2026-07-01T00:00:00.000000Z"),
        # As long as MEGA's spelling, but an ISO week date: the `Z` shortcut must read it right.
        ("2026-W27-3T18:20:00.000Z", "2026-07-01T18:20:00.000000Z"),
    ],
)
def test_spellings_of_one_instant_normalise_alike(raw: str, canonical: str) -> None:
    assert normalize_timestamp(raw) == canonical


@pytest.mark.parametrize("raw", ["yesterday", "", "2026-13-01T00:00:00.000Z", "12"])
def test_non_timestamps_are_refused(raw: str) -> None:
    with pytest.raises(InvalidTimestampError, match="ISO-8601"):
        normalize_timestamp(raw)


OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
INSTANTS = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=dt.datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=OFFSETS,
)


@given(INSTANTS, INSTANTS)
def test_string_order_of_canonical_form_is_instant_order(a: dt.datetime, b: dt.datetime) -> None:
    left, right = normalize_timestamp(a.isoformat()), normalize_timestamp(b.isoformat())
    assert (left < right) == (a < b)
    assert (left == right) == (a == b)
    assert parse_timestamp(format_timestamp(a)) == a
