"""Where the next run picks up a walk that stopped early: MEGA's own cursor, when safe.

MEGA's docs give two ways to poll on: "resume from the last cursor or start again
with `updated_since`". Starting again from the bookmark re-reads the leads tied
at it and the `lookback_window` before it, and a run whose budget ends inside a
group of tied leads larger than the budget would never get past it. The cursor
goes on exactly where the last page ended, so every run makes progress.

It is followed only when that is as safe as the bookmark:
- the walk's fixed parameters (filters, sort, `start_date`) are unchanged, as
  MEGA requires for a cursor, and `updated_since` is the walk's own;
- the bookmark was already more than `lookback_window` old, by MEGA's clock
  (the page's `Date`), when the page was served. A late commit is visible within
  `lookback_window` of its `updated_at` (the lookback's own premise), so none can
  appear behind the cursor afterwards; near the newest changes, restarting
  `lookback_window` before the bookmark is what catches them. (One that became
  visible after the walk passed it but before the cursor was saved needs a walk
  that waited for the budget right after reaching recent changes: the limit the
  README's lookback section describes, for uninterrupted runs too.)
Anything else (no cursor saved, a malformed one, a change of settings) falls
back to the bookmark, which is always correct.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import typing as t
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from tap_mega.timestamps import InvalidTimestampError, format_timestamp, parse_timestamp

#: The key in the stream's state; null once a walk has reached its end.
STATE_KEY = "resume_from"
#: Request parameters that move from page to page or that the cursor does not depend on.
WALK_VARIABLE_PARAMS = frozenset({"cursor", "updated_since", "limit"})


@dataclass(frozen=True)
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

    def to_state(self) -> dict[str, str | int | None]:
        """The JSON object kept in the stream's state."""
        return {
            "cursor": self.cursor,
            "updated_since": self.updated_since,
            "walk": self.walk,
            "served_at": self.served_at,
            "emitted": self.emitted,
        }

    @classmethod
    def from_state(cls, value: object) -> ResumePoint | None:
        """Read a saved point; None when absent, null, or not one we wrote."""
        if not isinstance(value, dict):
            return None
        cursor, since = value.get("cursor"), value.get("updated_since")
        walk, served_at = value.get("walk"), value.get("served_at")
        if not all(isinstance(item, str) and item for item in (cursor, walk, served_at)):
            return None
        if since is not None and not isinstance(since, str):
            return None
        emitted = value.get("emitted", 0)
        if type(emitted) is not int or emitted < 0:
            return None
        try:
            parse_timestamp(t.cast("str", served_at))
            if since is not None:
                parse_timestamp(since)
        except InvalidTimestampError:
            return None
        return cls(
            cursor=t.cast("str", cursor),
            updated_since=since,
            walk=t.cast("str", walk),
            served_at=t.cast("str", served_at),
            emitted=emitted,
        )


def walk_fingerprint(params: dict[str, t.Any], start_date: str | None) -> str:
    """A short digest of what a cursor is only valid under: filters, sort, `start_date`.

    A digest rather than the values: the state need not repeat a search term.
    """
    fixed = {key: str(value) for key, value in params.items() if key not in WALK_VARIABLE_PARAMS}
    text = json.dumps({"params": fixed, "start_date": start_date}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def served_at(date_header: str | None) -> str | None:
    """MEGA's clock from a response's `Date` header, canonical; None if absent or odd."""
    if not date_header:
        return None
    try:
        moment = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return format_timestamp(moment)


def why_not_resume(
    point: ResumePoint,
    *,
    bookmark: str | None,
    lookback: dt.timedelta,
    walk: str,
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
