"""What MEGA's answers say beyond the page: the error envelope and `Retry-After`.

Read the same way by the sync and the doctor, so each states the error and the
wait in the same words.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

if t.TYPE_CHECKING:
    import requests


def describe_error_response(response: requests.Response) -> str:
    """Summarise an error response from MEGA's envelope, without headers or secrets.

    The SDK's default message appends every header and the raw body; ours keeps the
    status, the envelope's type and message, and the path (the query never carries
    the token, which only travels in the Authorization header).
    """
    summary = f"{response.status_code} {response.reason or ''}".strip()
    try:
        error = response.json()["error"]
        detail = f"{error['type']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        detail = "no MEGA error envelope in the body"
    path = urlparse(response.url).path
    return f"{summary} ({detail}) for GET {path}"


def has_envelope(response: requests.Response) -> bool:
    """The body is MEGA's error envelope, not a gateway's page."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and "type" in error


def parse_retry_after(response: requests.Response) -> float:
    """Read `Retry-After` in seconds; a missing or odd value falls back to 1 second.

    The docs show whole seconds; HTTP also allows a date, and fractions occur in
    the wild. A date is read against the response's own `Date` when it has one,
    so a skew between MEGA's clock and ours does not stretch or cut the wait.
    """
    raw = response.headers.get("Retry-After", "").strip()
    seconds: float | None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = seconds_until_http_date(raw, response.headers.get("Date"))
    return seconds if seconds is not None and 0 <= seconds < math.inf else 1.0


def seconds_until_http_date(value: str, served: str | None) -> float | None:
    """Seconds from `served` (the response's Date; else our clock) to the HTTP date `value`."""
    try:
        until = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    try:
        now = parsedate_to_datetime(served) if served else None
    except (TypeError, ValueError):
        now = None
    if until.tzinfo is None:
        until = until.replace(tzinfo=dt.timezone.utc)
    if now is None or now.tzinfo is None:
        now = dt.datetime.now(dt.timezone.utc)
    return max((until - now).total_seconds(), 0.0)
