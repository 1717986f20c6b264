"""Instants as MEGA spells them: ISO-8601 with an offset, parsed to epoch microseconds.

Microseconds, not MEGA's milliseconds, so that a lead spelled with
microseconds sorts and filters by its exact instant.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["parse_instant", "stored_us"]

_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(Z|z|[+-]\d{2}:?\d{2})",
)
_CANONICAL_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_day_ms_cache: dict[str, int] = {}


def _offset(text: str) -> timedelta:
    """Turn ``Z``/``+hh:mm``/``-hhmm`` into a timedelta."""
    if text in ("Z", "z"):
        return timedelta(0)
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return -delta if text[0] == "-" else delta


def parse_instant(text: str) -> tuple[int, bool]:
    """Parse ISO-8601 with an offset into ``(epoch_us_floor, has_sub_us_rest)``.

    Silent in the docs: a timestamp without an offset is rejected, because a
    careful API will not guess the zone of an instant. Any fractional precision
    is accepted; the sub-microsecond rest is reported so that an inclusive
    lower bound can round *up* instead of silently widening the range.
    Raises ``ValueError`` for anything else.
    """
    if _CANONICAL_RE.fullmatch(text):
        return _canonical_ms(text) * 1000, False
    match = _ISO_RE.fullmatch(text)
    if match is None:
        msg = "not an ISO-8601 date-time with a timezone"
        raise ValueError(msg)
    year, month, day, hour, minute, sec = (int(g) for g in match.groups()[:6])
    frac = match.group(7) or ""
    naive = datetime(year, month, day, hour, minute, sec, tzinfo=timezone.utc)
    instant = naive - _offset(match.group(8))
    whole_us = (instant - _EPOCH) // timedelta(microseconds=1)
    return whole_us + int((frac + "000000")[:6]), frac[6:].strip("0") != ""


def _canonical_ms(text: str) -> int:
    """Fast path for MEGA's own spelling; the emulator parses millions of these."""
    day = _day_ms_cache.get(text[:10])
    if day is None:
        parsed = datetime.strptime(text[:10], "%Y-%m-%d").replace(tzinfo=timezone.utc)
        day = (parsed - _EPOCH) // timedelta(milliseconds=1)
        _day_ms_cache[text[:10]] = day
    hour, minute, sec = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if hour > 23 or minute > 59 or sec > 59:  # noqa: PLR2004
        msg = "time out of range"
        raise ValueError(msg)
    return day + ((hour * 60 + minute) * 60 + sec) * 1000 + int(text[20:23])


def stored_us(text: str) -> int:
    """Parse a timestamp to store, truncated to the microsecond."""
    return parse_instant(text)[0]
