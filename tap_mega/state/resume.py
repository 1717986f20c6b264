"""Where the next run picks up a walk that stopped early: MEGA's own cursor, when safe.

From the bookmark, a run whose budget ends inside a group of tied leads would
never get past them; the cursor goes on where the last page ended. It is followed
only when the walk's fixed parameters are unchanged (MEGA requires it) and the
bookmark was already `lookback_window` old by MEGA's clock when the page was
served, so no late commit can lie behind it. Else the bookmark, always correct.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import typing as t
from email.utils import parsedate_to_datetime

from tap_mega.timestamps import InvalidTimestampError, format_timestamp, parse_timestamp

#: The key in the stream's state; null once a walk has reached its end.
STATE_KEY = "resume_from"
#: Request parameters that move from page to page or that the cursor does not depend on.
WALK_VARIABLE_PARAMS = frozenset({"cursor", "updated_since", "limit"})


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """The cursor for the next page of a walk, and what it is valid for."""

    cursor: str
    #: The walk's `updated_since` (canonical), or None for a walk from the start.
    updated_since: str | None
    #: `walk_fingerprint` of the walk's fixed parameters.
    walk: str
    #: MEGA's clock (`Date`) when the page before the cursor was served, canonical.
    served_at: str
    #: Leads the walk emitted before the cursor, over all its runs: for progress.
    emitted: int = 0

    @classmethod
    def from_state(cls, value: object) -> ResumePoint | None:
        """A saved point; None when absent, null, or not one this tap wrote."""
        if not isinstance(value, dict):
            return None
        cursor, walk, served = (value.get(key, "") for key in ("cursor", "walk", "served_at"))
        since, emitted = value.get("updated_since"), value.get("emitted", 0)
        written = all(isinstance(item, str) and item for item in (cursor, walk, served))
        if not written or type(emitted) is not int or emitted < 0:
            return None
        try:
            parse_timestamp(served)
            since = None if since is None else format_timestamp(parse_timestamp(since))
        except InvalidTimestampError:
            return None
        return cls(cursor, since, walk, served, emitted)


def walk_fingerprint(params: dict[str, t.Any], start_date: str | None) -> str:
    """What a cursor is only valid under, as a digest: the state need not repeat a search term."""
    fixed = {key: str(value) for key, value in params.items() if key not in WALK_VARIABLE_PARAMS}
    text = json.dumps({"params": fixed, "start_date": start_date}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def served_at(date_header: str | None) -> str | None:
    """MEGA's clock from a response's `Date` header, canonical; None if absent or odd."""
    try:
        moment = parsedate_to_datetime(date_header or "")
    except (TypeError, ValueError):
        return None
    return format_timestamp(moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc))


def why_not_resume(
    point: ResumePoint, *, bookmark: str | None, lookback: dt.timedelta, walk: str
) -> str | None:
    """None when the next walk may start at `point`; else the reason, for the log."""
    if walk != point.walk:
        return "the filters, sort or start_date changed since it was saved"
    if bookmark is None:
        return "the state has no bookmark to check it against"
    if parse_timestamp(bookmark) + lookback > parse_timestamp(point.served_at):
        return (
            "the bookmark was less than lookback_window old when it was saved, so "
            "late commits may lie behind it"
        )
    return None
