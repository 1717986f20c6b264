"""What MEGA's answers say beyond the page, in words the sync and the doctor share."""

from __future__ import annotations

import datetime as dt
import math
import typing as t
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlparse

if t.TYPE_CHECKING:
    import requests


def describe_error_response(response: requests.Response) -> str:
    """Status, envelope and path: not the SDK's every header and raw body."""
    summary = f"{response.status_code} {response.reason or ''}".strip()
    detail = "no MEGA error envelope in the body"
    if error := envelope(response):
        detail = f"{error['type']}: {error['message']}"
    return f"{summary} ({detail}) for GET {urlparse(response.url).path}"


def envelope(response: requests.Response) -> dict[str, t.Any] | None:
    """MEGA's `{"error": {"type", "message", ...}}`; None for a body without it (a gateway's)."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return error if isinstance(error, dict) and {"type", "message"} <= error.keys() else None


def not_mega(response: requests.Response) -> str | None:
    """Why `response` cannot be MEGA's answer to a page request; None when it can be.

    A JSON body cut short is not judged here: that is the network's blip, retried.
    """
    status = response.status_code
    if status == HTTPStatus.NOT_FOUND and not envelope(response):
        return f"a 404 with no MEGA error envelope ({body_kind(response)})"
    if not HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
        return None
    try:
        body = response.json()
    except ValueError:
        if "json" in content_type(response):
            return None
        return f"a {status} with {body_kind(response)}"
    if not isinstance(body, dict) or "leads" not in body:
        return f"a {status} with JSON that has no `leads`"
    return None


def content_type(response: requests.Response) -> str:
    """The media type alone, lower case."""
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def body_kind(response: requests.Response) -> str:
    """`an HTML page`, `an empty body`, `a text/plain body`."""
    kind = content_type(response)
    start = response.content[:64].lstrip().lower()
    if "html" in kind or start.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if not response.content:
        return "an empty body"
    return f"a {kind} body" if kind else "a body of no stated type"


def parse_retry_after(response: requests.Response) -> float:
    """`Retry-After` in seconds (a number or an HTTP date); 1 when missing or odd."""
    raw = response.headers.get("Retry-After", "").strip()
    seconds: float | None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = seconds_until_http_date(raw, response.headers.get("Date"))
    return seconds if seconds is not None and 0 <= seconds < math.inf else 1.0


def seconds_until_http_date(value: str, served: str | None) -> float | None:
    """Seconds from `served` (the response's Date, so clock skew does not count) to `value`."""
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
