"""One canonical spelling of instants, because the SDK compares bookmarks as strings.

Two spellings of one instant (another precision or offset, a state written by
hand) would make that comparison lie, so every timestamp that can reach a
bookmark is normalised first. Durations get one short form too (`format_duration`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import typing as t

MEGA_SPELLING_LENGTH = len("2026-07-01T18:20:00.000Z")


# No years or months: their length depends on the calendar.
_DURATION = re.compile(
    r"P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class InvalidTimestampError(ValueError):
    """Text that is not an ISO-8601 instant."""


class DurationError(ValueError):
    """A duration setting that is neither an ISO-8601 duration nor a number of seconds."""


def parse_timestamp(value: str) -> dt.datetime:
    """An aware UTC datetime; no offset means UTC, as MEGA documents every timestamp."""
    if isinstance(value, str) and value.endswith("Z"):
        # MEGA's spelling, on every record: the C parser is far faster than pendulum.
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(value[:-1]).replace(tzinfo=dt.timezone.utc)
    import pendulum  # noqa: PLC0415 (only for spellings other than MEGA's: saves start-up)

    try:
        parsed = pendulum.parse(value)
    except (ValueError, TypeError):
        parsed = None
    if not isinstance(parsed, dt.datetime):  # nor is a duration or an interval
        msg = f"{value!r} is not an ISO-8601 date-time"
        raise InvalidTimestampError(msg)
    utc = parsed.astimezone(dt.timezone.utc)
    return dt.datetime.combine(utc.date(), utc.time(), dt.timezone.utc)  # not pendulum's class


def format_timestamp(value: dt.datetime) -> str:
    """The canonical UTC form: microseconds and `Z`."""
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


def normalize_timestamp(value: str) -> str:
    """The canonical spelling of an ISO-8601 instant."""
    return format_timestamp(parse_timestamp(value))


def format_duration(seconds: float) -> str:
    """Compact, human: `45s`, `12m`, `1h 56m`, `2d 3h`."""
    total = max(0, math.ceil(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) if shown else "0s"


def parse_duration(value: t.Any, setting: str, default_seconds: float) -> dt.timedelta:
    """Seconds (a number or numeric text) or an ISO-8601 duration; None: the default."""
    if value is None:
        return dt.timedelta(seconds=default_seconds)
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
            f"setting `{setting}` must be a number of seconds (0 or more) or an "
            f"ISO-8601 duration such as PT5M, got {value!r}"
        )
        raise DurationError(msg)
    return window
