"""Assumptions: does this MEGA behave as the tap's reading of the docs assumes?

Each line is `ok`, a `warning` with what to do, or `unexpected` with the value
seen and what the tap assumed: the line a user pastes into a bug report, and
the way we learn what the real API does.
"""

from __future__ import annotations

import re
import typing as t
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from tap_mega.api.pages import PAGE_KEYS
from tap_mega.api.responses import parse_retry_after, seconds_until_http_date
from tap_mega.doctor.checks import first_leads_seen
from tap_mega.doctor.probe import FIRST, SECOND
from tap_mega.doctor.report import OK, SKIPPED, UNEXPECTED, WARNING
from tap_mega.timestamps import (
    MEGA_SPELLING_LENGTH,
    InvalidTimestampError,
    normalize_timestamp,
)

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

    from tap_mega.doctor.probe import Exchange, Probe
    from tap_mega.doctor.report import Report

SECTION = "Assumptions"
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
STANDARD = re.compile(r"[A-Za-z0-9+/]+=*")
WHOLE = re.compile(r"\d+")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
MEGA_SPELLING = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def add_assumption_lines(report: Report, probe: Probe, lookback: dt.timedelta) -> None:
    """Every assumption the doctor's responses could test."""
    first = probe.get(FIRST)
    body = first.body() if first is not None and first.status == HTTPStatus.OK else None
    if body is None:
        report.add(SECTION, "page", SKIPPED, "no page to check: see above")
    else:
        check_page_keys(report, body)
        check_limit(report, first)
        check_updated_at(report, first_leads_seen(probe))
        check_cursor(report, first, probe.get(SECOND), paused=probe.paused is not None)
    answered = [e for e in probe.exchanges if e.response is not None]
    if answered:
        check_clock(report, answered[0], lookback)
        check_rate_headers(report, answered)
    check_retry_after(report, answered)


def check_page_keys(report: Report, body: t.Any) -> None:
    """The five documented keys, on every page."""
    keys = sorted(body) if isinstance(body, dict) else []
    missing = [key for key in PAGE_KEYS if key not in keys]
    if missing:
        report.add(
            SECTION,
            "page keys",
            UNEXPECTED,
            f"missing {', '.join(missing)} (seen: {', '.join(keys) or 'no object'}); "
            f"the tap assumed all of {', '.join(PAGE_KEYS)} and stops on such a page",
            missing=missing,
            seen=keys,
        )
    else:
        report.add(SECTION, "page keys", OK, f"{', '.join(PAGE_KEYS)} all present", seen=keys)


def check_limit(report: Report, first: Exchange | None) -> None:
    """`limit=1` gives one lead and says so: the tap's page_size is obeyed."""
    body = first.body() if first else None
    if not isinstance(body, dict):
        return
    leads, limit = body.get("leads"), body.get("limit")
    if isinstance(leads, list) and len(leads) <= 1 and limit == 1:
        report.add(SECTION, "limit", OK, "limit=1 gave at most one lead and was echoed")
    else:
        count = len(leads) if isinstance(leads, list) else None
        report.add(
            SECTION,
            "limit",
            UNEXPECTED,
            f"limit=1 gave {count} leads, page limit {limit!r}; the tap assumed "
            "`limit` is obeyed and echoed",
            leads=count,
            limit=limit,
        )


def check_updated_at(report: Report, leads: list[dict[str, t.Any]]) -> None:
    """`updated_at` in a spelling the tap normalises; a sample shown."""
    if not leads:
        report.add(SECTION, "updated_at", SKIPPED, "no lead matches: no sample to check")
        return
    for lead in leads:
        value = lead.get("updated_at")
        try:
            canonical = normalize_timestamp(value) if isinstance(value, str) else None
        except InvalidTimestampError:
            canonical = None
        if canonical is None:
            report.add(
                SECTION,
                "updated_at",
                UNEXPECTED,
                f"{value!r} is not an ISO-8601 instant; the tap assumed one like "
                "2026-07-01T18:20:00.000Z and stops on this lead",
                sample=value,
            )
            return
    sample = t.cast("str", leads[0]["updated_at"])
    if MEGA_SPELLING.fullmatch(sample) and len(sample) == MEGA_SPELLING_LENGTH:
        text = f"{sample}, MEGA's documented spelling"
    else:
        text = (
            f"{sample}, not the documented spelling, but ISO-8601: the tap "
            f"normalises it to {normalize_timestamp(sample)}"
        )
    report.add(SECTION, "updated_at", OK, text, sample=sample)


def check_cursor(
    report: Report, first: Exchange | None, second: Exchange | None, *, paused: bool
) -> None:
    """The cursor's alphabet, and that it survives the trip back URL-encoded."""
    cursor = first.page.next_cursor if first and first.page else None
    if cursor is None:
        total = first.page.total if first and first.page else 0
        report.add(
            SECTION,
            "cursor",
            WARNING,
            f"no next_cursor: {total} lead(s) match, so paging is not proven; "
            "run the doctor again when more than one lead matches",
        )
        return
    alphabet = alphabet_of(cursor)
    if paused and (second is None or second.page is None):
        report.add(
            SECTION,
            "cursor",
            SKIPPED,
            f"{alphabet}; not sent back: the budget is used up for now",
            alphabet=alphabet,
        )
        return
    if second is None or second.page is None:
        status = second.status if second else None
        report.add(
            SECTION,
            "cursor",
            UNEXPECTED,
            f"MEGA answered {status} to its own next_cursor sent back URL-encoded "
            f"({alphabet}, {len(cursor)} characters); the tap assumed a cursor "
            "passed back as `cursor` gives the next page",
            alphabet=alphabet,
            http_status=status,
        )
        return
    repeated = first_ids(t.cast("Exchange", first)) & first_ids(second)
    if repeated:
        report.add(
            SECTION,
            "cursor",
            UNEXPECTED,
            f"page 2 repeats lead {min(repeated)} of page 1; the tap assumed "
            "the cursor moves past the page it came with",
            alphabet=alphabet,
        )
        return
    report.add(
        SECTION,
        "cursor",
        OK,
        f"{alphabet}; sent back URL-encoded, MEGA gave the next page",
        alphabet=alphabet,
    )


def alphabet_of(cursor: str) -> str:
    """How a cursor is spelled, in the words of base64's variants."""
    if URLSAFE.fullmatch(cursor):
        return "base64url (A-Z a-z 0-9 - _), safe in a URL as it is"
    if STANDARD.fullmatch(cursor):
        return "standard base64 with + / =, which the tap URL-encodes"
    odd = sorted({c for c in cursor if not (c.isascii() and c.isalnum()) and c not in "+/=-_"})
    return f"characters outside base64 ({' '.join(odd)!r}), which the tap URL-encodes"


def first_ids(record: Exchange) -> set[str]:
    """The ids of the leads on a page."""
    return {str(lead.get("id")) for lead in record.page.leads} if record.page else set()


def check_clock(report: Report, record: Exchange, lookback: dt.timedelta) -> None:
    """MEGA's `Date` against the local clock; a skew over `lookback_window` is a warning."""
    assert record.response is not None  # noqa: S101 - answered exchanges only
    raw = record.response.headers.get("Date")
    if not raw:
        report.add(
            SECTION,
            "clock",
            WARNING,
            "no Date header: the tap cannot tell how old its bookmark is by "
            "MEGA's clock, so it never resumes from a saved cursor",
        )
        return
    try:
        served = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        served = None
    if served is None or served.tzinfo is None:
        report.add(
            SECTION,
            "clock",
            UNEXPECTED,
            f"Date {raw!r} is not an HTTP date; the tap assumed one (RFC 9110)",
            date=raw,
        )
        return
    skew = served.timestamp() - record.local_midpoint
    way = "ahead of" if skew > 0 else "behind"
    text = f"MEGA's Date is {abs(skew):.0f}s {way} the local clock"
    limit = lookback.total_seconds()
    data = {"skew_seconds": round(skew, 1), "lookback_seconds": limit}
    # Date has whole seconds: up to a second of skew is only its rounding.
    if abs(skew) > max(limit, 1.0):
        report.add(
            SECTION,
            "clock",
            WARNING,
            f"{text}, more than lookback_window ({limit:g}s): the lookback then "
            f"protects less than it says; set the clock right (NTP) or raise "
            f"lookback_window above {abs(skew):.0f}s",
            **data,
        )
    else:
        report.add(SECTION, "clock", OK, f"{text}, within lookback_window ({limit:g}s)", **data)


def check_rate_headers(report: Report, answered: list[Exchange]) -> None:
    """`RateLimit-*` on every response, as whole seconds and counts."""
    for record in answered:
        # Not `if record.response`: a 4xx Response is falsy.
        response = record.response
        headers = t.cast("Mapping[str, str]", response.headers if response is not None else {})
        missing = [name for name in RATE_HEADERS if name not in headers]
        if missing:
            report.add(
                SECTION,
                "rate headers",
                UNEXPECTED,
                f"no {', '.join(missing)} on the {record.purpose} ({record.status}); "
                "the tap assumed all three on every response, to pace before a 429",
                missing=missing,
            )
            return
        odd = {
            name: headers[name]
            for name in RATE_HEADERS
            if not NUMBER.fullmatch(headers[name].strip())
        }
        if odd:
            seen = ", ".join(f"{name}: {value!r}" for name, value in odd.items())
            report.add(
                SECTION,
                "rate headers",
                UNEXPECTED,
                f"{seen}; the tap assumed plain numbers and cannot pace on these",
                seen=odd,
            )
            return
    values = {name: headers[name] for name in RATE_HEADERS}
    fractions = [name for name, value in values.items() if not WHOLE.fullmatch(value.strip())]
    text = ", ".join(f"{name} {value}" for name, value in values.items())
    if fractions:
        text += f" ({', '.join(fractions)} with a fraction: the tap reads whole seconds)"
    else:
        text += " (whole numbers, as documented)"
    report.add(SECTION, "rate headers", OK, text, seen=values)


def check_retry_after(report: Report, answered: list[Exchange]) -> None:
    """`Retry-After`, when a 429 showed one."""
    refused = next((e for e in answered if e.status == HTTPStatus.TOO_MANY_REQUESTS), None)
    if refused is None or refused.response is None:
        report.add(SECTION, "Retry-After", SKIPPED, "not seen: no 429 in these requests")
        return
    raw = refused.response.headers.get("Retry-After")
    if raw is None:
        report.add(
            SECTION,
            "Retry-After",
            UNEXPECTED,
            "a 429 without Retry-After; the tap assumed seconds in it and waits 1s",
            seen=None,
        )
    elif NUMBER.fullmatch(raw.strip()):
        report.add(SECTION, "Retry-After", OK, f"{raw} seconds on a 429, as documented", seen=raw)
    elif seconds_until_http_date(raw.strip(), refused.response.headers.get("Date")) is not None:
        wait = parse_retry_after(refused.response)
        report.add(
            SECTION,
            "Retry-After",
            OK,
            f"{raw!r} on a 429: an HTTP date, which the tap reads as a wait of "
            f"{wait:g}s (by MEGA's Date)",
            seen=raw,
        )
    else:
        report.add(
            SECTION,
            "Retry-After",
            UNEXPECTED,
            f"{raw!r} on a 429; the tap assumed seconds and waits 1s instead, then asks again",
            seen=raw,
        )
