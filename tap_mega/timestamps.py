"""One canonical text form for instants, because the SDK compares bookmarks as strings.

MEGA sends `2026-07-01T18:20:00.000Z`, but nothing promises that every response
(or a state file written by hand) uses that precision and offset. Two spellings of
one instant, or a `+02:00` offset, would make string comparison lie, so every
timestamp that can reach a bookmark goes through `normalize_timestamp` first.
Durations get one short form too (`format_duration`), for every line a user reads.
"""

from __future__ import annotations

import datetime as dt
import math

CANONICAL_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class InvalidTimestampError(ValueError):
    """Raised for text that is not an ISO-8601 instant."""


def parse_timestamp(value: str) -> dt.datetime:
    """Parse ISO-8601 text into an aware UTC datetime.

    A value without an offset is taken as UTC: MEGA documents every timestamp as
    UTC, so that is the only reading that cannot shift an instant.
    """
    if not isinstance(value, str):
        msg = f"{value!r} is not an ISO-8601 date-time"
        raise InvalidTimestampError(msg)
    if value.endswith("Z"):
        # MEGA's own spelling: the C parser takes it in well under a microsecond,
        # which matters on the per-record path.
        try:
            return dt.datetime.fromisoformat(value[:-1]).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            pass
    import pendulum  # noqa: PLC0415 (only for spellings other than MEGA's: saves start-up)

    try:
        parsed = pendulum.parse(value)
    except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError) as exc:
        msg = f"{value!r} is not an ISO-8601 date-time"
        raise InvalidTimestampError(msg) from exc
    if isinstance(parsed, dt.datetime):
        moment = parsed
    elif isinstance(parsed, dt.date):
        moment = dt.datetime.combine(parsed, dt.time())
    else:
        msg = f"{value!r} is not an ISO-8601 date-time"
        raise InvalidTimestampError(msg)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    utc = moment.astimezone(dt.timezone.utc)
    return dt.datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
        utc.microsecond, tzinfo=dt.timezone.utc,
    )


def format_timestamp(value: dt.datetime) -> str:
    """Render an aware datetime in the canonical UTC form (microseconds, `Z`)."""
    return value.astimezone(dt.timezone.utc).strftime(CANONICAL_FORMAT)


MEGA_SPELLING_LENGTH = len("2026-07-01T18:20:00.000Z")


def normalize_timestamp(value: str) -> str:
    """Return the canonical spelling of an ISO-8601 instant."""
    if (
        isinstance(value, str)
        and len(value) == MEGA_SPELLING_LENGTH
        and value[4] == value[7] == "-"
        and value[10] == "T"
        and value[13] == value[16] == ":"
        and value[19] == "."
        and value[-1] == "Z"
        and value[20:23].isdigit()
    ):
        # MEGA's own spelling, on every record: once the C parser has accepted it,
        # padding the milliseconds is the canonical form, without a strftime.
        try:
            dt.datetime.fromisoformat(value[:-1])
        except ValueError:
            pass  # the general path below says what is wrong with it
        else:
            return value[:-1] + "000Z"
    return format_timestamp(parse_timestamp(value))


def canonical_or_none(value: object) -> str | None:
    """The canonical spelling of `value`, or None when it is not an instant."""
    try:
        return normalize_timestamp(value)  # type: ignore[arg-type]
    except InvalidTimestampError:
        return None


def format_duration(seconds: float) -> str:
    """Compact, human: `45s`, `12m`, `1h 56m`, `2d 3h`."""
    total = max(0, math.ceil(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) if shown else "0s"
