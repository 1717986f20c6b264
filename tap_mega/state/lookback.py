"""The `lookback_window` setting: how far before the bookmark an incremental run starts.

MEGA stamps `updated_at` when a change starts, but the lead shows only once it commits,
perhaps after a sync read past the stamp. Looking back catches it, re-emitting the
few leads of that window (harmless when the target merges on `id`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import typing as t

#: Far longer than a CRM write or a replica's lag; re-reads usually under one page.
DEFAULT_LOOKBACK_SECONDS = 300

# No years or months: their length depends on the calendar.
_DURATION = re.compile(
    r"P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class LookbackError(ValueError):
    """A `lookback_window` that is neither a duration nor a number of seconds."""


def parse_lookback(value: t.Any) -> dt.timedelta:
    """Seconds (a number or numeric text) or an ISO-8601 duration; None: the default."""
    if value is None:
        return dt.timedelta(seconds=DEFAULT_LOOKBACK_SECONDS)
    text = value.strip().upper() if isinstance(value, str) else ""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    window = None
    with contextlib.suppress(OverflowError, ValueError):  # too large, or NaN
        if number or _NUMBER.fullmatch(text):
            window = dt.timedelta(seconds=float(value))
        elif match := _DURATION.fullmatch(text):
            parts = {name: float(part) for name, part in match.groupdict().items() if part}
            window = dt.timedelta(**parts)
    if window is None or window < dt.timedelta(0):
        msg = (
            "setting `lookback_window` must be a number of seconds (0 or more) or an "
            f"ISO-8601 duration such as PT5M, got {value!r}"
        )
        raise LookbackError(msg)
    return window


def incremental_start(
    bookmark: dt.datetime | None, start_date: dt.datetime | None, lookback: dt.timedelta
) -> dt.datetime | None:
    """The bookmark minus the lookback, never before `start_date` (a floor the user chose)."""
    if bookmark is None:
        return start_date
    try:
        since = bookmark - lookback
    except OverflowError:
        since = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return since if start_date is None else max(since, start_date)
