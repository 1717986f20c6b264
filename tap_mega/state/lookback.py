"""The `lookback_window` setting: how far before the bookmark an incremental run starts.

MEGA stamps `updated_at` when a change starts, but the change only becomes
visible when its transaction commits. A lead whose long transaction commits
after a sync read past its stamp would be skipped forever by a tap that starts
exactly at the bookmark; starting a little earlier catches it, at the price of
re-emitting the few leads changed in that window (harmless when the target
merges on `id`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import typing as t

#: Five minutes: far longer than a CRM write or a replica's lag, yet it re-reads
#: only the leads changed in the last five minutes (usually under one page).
DEFAULT_LOOKBACK_SECONDS = 300

# Weeks, days, hours, minutes, seconds; years and months are refused because
# their length depends on the calendar.
_DURATION = re.compile(
    r"P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class LookbackError(ValueError):
    """A `lookback_window` that is neither a duration nor a number of seconds."""


def parse_lookback(value: t.Any) -> dt.timedelta:
    """Read `lookback_window`: seconds (number or numeric string) or an ISO-8601 duration.

    None means the default, so a config that omits the setting is still protected.
    """
    if value is None:
        return dt.timedelta(seconds=DEFAULT_LOOKBACK_SECONDS)
    if isinstance(value, bool):
        raise LookbackError(_problem(value))
    if isinstance(value, (int, float)):
        return _from_seconds(value, value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_seconds(float(text), value)
        match = _DURATION.fullmatch(text.upper())
        if match:
            parts = {name: float(part) for name, part in match.groupdict().items() if part}
            return _from_seconds(dt.timedelta(**parts).total_seconds(), value)
    raise LookbackError(_problem(value))


def _from_seconds(seconds: float, original: t.Any) -> dt.timedelta:
    """A non-negative, finite, representable window."""
    if not math.isfinite(seconds) or seconds < 0:
        raise LookbackError(_problem(original))
    try:
        return dt.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise LookbackError(_problem(original)) from exc


def _problem(value: t.Any) -> str:
    """The one line that names the setting and the accepted forms."""
    return (
        "setting `lookback_window` must be a number of seconds (0 or more) or an "
        f"ISO-8601 duration such as PT5M, got {value!r}"
    )


def incremental_start(
    bookmark: dt.datetime | None,
    start_date: dt.datetime | None,
    lookback: dt.timedelta,
) -> dt.datetime | None:
    """Where a run starts: the bookmark minus the lookback, never before `start_date`.

    The lookback applies to the bookmark only: `start_date` is a floor the user
    chose, and a first run (no bookmark) has nothing to look back from.
    """
    if bookmark is None:
        return start_date
    try:
        since = bookmark - lookback
    except OverflowError:
        since = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return since if start_date is None else max(since, start_date)
