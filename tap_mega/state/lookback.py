"""The `lookback_window` setting: how far before the bookmark an incremental run starts.

MEGA stamps `updated_at` when a change starts, but the lead shows only once it commits,
perhaps after a sync read past the stamp. Looking back catches it, re-emitting the
few leads of that window (harmless when the target merges on `id`).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from tap_mega.timestamps import parse_duration

#: Far longer than a CRM write or a replica's lag; re-reads usually under one page.
DEFAULT_LOOKBACK_SECONDS = 300


def parse_lookback(value: t.Any) -> dt.timedelta:
    """Seconds (a number or numeric text) or an ISO-8601 duration; None: the default."""
    return parse_duration(value, "lookback_window", DEFAULT_LOOKBACK_SECONDS)


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
