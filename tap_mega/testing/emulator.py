"""An in-process stand-in for MEGA's ``GET /api/agents/crm/leads``.

No machine of ours can reach MEGA, so the tap is only as right as this
emulator is faithful: it follows ``shared/mega-api.md`` to the letter, and
where that page is silent it does what a careful API would and says so in a
comment marked "Silent in the docs".

Besides serving, it lets tests misbehave on purpose (faults, rate limits,
data changing mid-sync, late commits) and records every request it received.
Run ``python -m tap_mega.testing.emulator --help`` for the demo server.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import contextlib
import copy
import hmac
import json
import math
import random
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tap_mega.testing.leadgen import STATUSES, format_ms, generate_leads, make_uuid

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from email.message import Message
    from types import TracebackType

    _Predicate = Callable[["_Row"], bool]

__all__ = [
    "DEMO_CUSTOMER_ID",
    "DEMO_TOKEN",
    "FAULT_KINDS",
    "LEADS_PATH",
    "READ_SCOPE",
    "Fault",
    "MegaEmulator",
    "RateWindow",
    "RecordedRequest",
    "main",
]

#: Well-known demo credentials: printing them is the point of the CLI.
DEMO_TOKEN = "mega_228d1e26c4bb82b8042db88113b7b9db69b60e9a77ca4bbf6a2d57821b560188"  # noqa: S105
DEMO_CUSTOMER_ID = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00"
LEADS_PATH = "/api/agents/crm/leads"
READ_SCOPE = "public_api:leads:read"
FAULT_KINDS = frozenset(
    {"status", "drop", "slow", "malformed", "bad_shape", "rate_limit", "body"},
)

_SORT_FIELDS = ("created_at", "updated_at", "last_interaction_at")
_INDEXED_SORTS = ("created_at", "updated_at")
_LEAD_LINES = ("buyer", "seller")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "authorization_error",
    404: "not_found_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
}
_RATE_LIMIT_MESSAGE = "Rate limit exceeded. Please retry later."
_PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_DATA_CLOCK_STEP_MS = 1000
_JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}


# --------------------------------------------------------------------------- #
# Public value types
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class RateWindow:
    """``limit`` requests per ``seconds``; small values make limits testable."""

    limit: int
    seconds: float

    def __post_init__(self) -> None:
        """Reject windows that could never admit a request."""
        # `not 0 < seconds < inf` also refuses NaN, which would break every response.
        if self.limit < 1 or not 0 < self.seconds < math.inf:
            msg = "RateWindow needs limit >= 1 and finite seconds > 0"
            raise ValueError(msg)


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour, hitting request ``at_request`` onwards.

    ``count`` defaults to 1 for a scheduled fault (``at_request=k`` hits
    requests k .. k+count-1) and to unlimited for a probabilistic storm
    (``at_request=None, probability=p, seed=s``), where it caps the hits.
    """

    kind: str
    _: KW_ONLY
    at_request: int | None = None
    count: int | None = None
    probability: float = 0.0
    seed: int = 0
    status: int = 500
    html: bool = False
    seconds: float = 1.0
    retry_after: int | None = None
    #: Any JSON value: a test may serve a body that is not even an object.
    body: Any = None

    def __post_init__(self) -> None:
        """Fail at scripting time rather than with a confusing test result."""
        problem = _fault_problem(self)
        if problem:
            raise ValueError(problem)


def _fault_problem(fault: Fault) -> str | None:
    """Explain why ``fault`` can never behave as its author meant, if so."""
    checks = (
        (fault.kind not in FAULT_KINDS, f"unknown fault kind {fault.kind!r}"),
        (fault.at_request is None and not 0 < fault.probability <= 1,
         "a fault needs at_request=k or 0 < probability <= 1"),
        (fault.at_request is not None and fault.at_request < 1,
         "at_request is 1-based"),
        (fault.count is not None and fault.count < 1, "count must be >= 1"),
        (not 100 <= fault.status <= 599, "status must be an HTTP status"),  # noqa: PLR2004
        (fault.kind == "body" and fault.body is None, "kind 'body' needs body="),
    )
    return next((msg for bad, msg in checks if bad), None)


@dataclass
class RecordedRequest:
    """What the server saw; the Authorization value is never kept.

    ``status`` is 0 for a dropped connection (no response was sent).
    """

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 0


# --------------------------------------------------------------------------- #
# Timestamps
# --------------------------------------------------------------------------- #
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
    """Parse ISO-8601 with an offset into ``(epoch_ms_floor, has_sub_ms_rest)``.

    Silent in the docs: a timestamp without an offset is rejected, because a
    careful API will not guess the zone of an instant. Any fractional precision
    is accepted; the sub-millisecond rest is reported so that an inclusive
    lower bound can round *up* instead of silently widening the range.
    Raises ``ValueError`` for anything else.
    """
    if _CANONICAL_RE.fullmatch(text):
        return _canonical_ms(text), False
    match = _ISO_RE.fullmatch(text)
    if match is None:
        msg = "not an ISO-8601 date-time with a timezone"
        raise ValueError(msg)
    year, month, day, hour, minute, sec = (int(g) for g in match.groups()[:6])
    frac = match.group(7) or ""
    naive = datetime(year, month, day, hour, minute, sec, tzinfo=timezone.utc)
    instant = naive - _offset(match.group(8))
    whole_ms = (instant - _EPOCH) // timedelta(milliseconds=1)
    return whole_ms + int((frac + "000")[:3]), frac[3:].strip("0") != ""


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


def _stored_ms(text: str) -> int:
    """Parse a timestamp to store: MEGA serves milliseconds, so truncate."""
    return parse_instant(text)[0]


# --------------------------------------------------------------------------- #
# Errors, responses
# --------------------------------------------------------------------------- #
class ApiError(Exception):
    """An error the API answers with its documented envelope."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Keep the status and message; the type follows from the status."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _error_type(status: int) -> str:
    """Map a status to the documented error ``type``."""
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")  # noqa: PLR2004


@dataclass
class _Response:
    """A response to write; ``body is None`` means drop the connection."""

    status: int
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


def _json_response(
    status: int, payload: Any, headers: dict[str, str] | None = None,
) -> _Response:
    """Serialise compactly, as a production API would."""
    return _Response(status, _dumps(payload), {**_JSON_TYPE, **(headers or {})})


def _dumps(value: object) -> bytes:
    """Compact UTF-8 JSON, as a production API sends."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _error_response(
    status: int, message: str, headers: dict[str, str] | None = None,
) -> _Response:
    """Build the one documented error envelope."""
    envelope = {"error": {"type": _error_type(status), "code": status, "message": message}}
    return _json_response(status, envelope, headers)


# --------------------------------------------------------------------------- #
# Rate limiting
# --------------------------------------------------------------------------- #
def _ceil_seconds(value: float) -> int:
    """Round up, ignoring float noise so 2.0000000001 s does not become 3."""
    return max(0, math.ceil(round(value, 6)))


class _RateLimiter:
    """Sliding-log limiter: one timestamp log per (token, window).

    A sliding log rather than fixed windows: "60 a minute" then holds for
    *every* 60 s span, with no double burst at a window edge, and Retry-After
    does not depend on where a wall-clock minute happens to start. It is the
    strictest reading of the docs, so a tap that copes here copes with a
    fixed-window server too.
    """

    def __init__(self, windows: Sequence[RateWindow], clock: Callable[[], float]) -> None:
        """Keep logs per key, created lazily."""
        self.windows = tuple(windows)
        self._clock = clock
        self._logs: dict[str, list[list[float]]] = {}

    @property
    def enabled(self) -> bool:
        """An empty window list disables limiting (and its headers)."""
        return bool(self.windows)

    def _pruned(self, key: str, now: float) -> list[list[float]]:
        """Return the key's logs with expired entries dropped."""
        logs = self._logs.setdefault(key, [[] for _ in self.windows])
        for window, log in zip(self.windows, logs, strict=True):
            cut = bisect.bisect_right(log, now - window.seconds)
            if cut:
                del log[:cut]
        return logs

    def admit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Consume one request of budget, or refuse without consuming any.

        Silent in the docs: a refused request does not consume budget, so a
        client that honours Retry-After is admitted right when it says; one
        that hammers is refused but not punished further.
        """
        now = self._clock()
        logs = self._pruned(key, now)
        pairs = zip(self.windows, logs, strict=True)
        full = [(window, log) for window, log in pairs if len(log) >= window.limit]
        if full:
            return False, self._refusal_headers(full, now)
        for log in logs:
            log.append(now)
        return True, self._report(logs, now)

    def peek(self, key: str) -> dict[str, str]:
        """Headers describing the budget without consuming any."""
        if not self.enabled:
            return {}
        now = self._clock()
        return self._report(self._pruned(key, now), now)

    def _report(self, logs: list[list[float]], now: float) -> dict[str, str]:
        """Describe the most constrained window (fewest remaining, then slowest refill)."""
        def rank(pair: tuple[RateWindow, list[float]]) -> tuple[int, float]:
            window, log = pair
            return window.limit - len(log), -self._refill(window, log, now)

        window, log = min(zip(self.windows, logs, strict=True), key=rank)
        return {
            "RateLimit-Limit": str(window.limit),
            "RateLimit-Remaining": str(max(0, window.limit - len(log))),
            "RateLimit-Reset": str(_ceil_seconds(self._refill(window, log, now))),
        }

    @staticmethod
    def _refill(window: RateWindow, log: list[float], now: float) -> float:
        """Seconds until every request in the window has expired."""
        return log[-1] + window.seconds - now if log else 0.0

    def _refusal_headers(
        self, full: list[tuple[RateWindow, list[float]]], now: float,
    ) -> dict[str, str]:
        """Retry-After is when *every* exhausted window has a free slot again."""
        waits = [(log[0] + window.seconds - now, window, log) for window, log in full]
        wait, window, log = max(waits, key=lambda item: item[0])
        return {
            "Retry-After": str(max(1, _ceil_seconds(wait))),
            "RateLimit-Limit": str(window.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(max(1, _ceil_seconds(self._refill(window, log, now)))),
        }


# --------------------------------------------------------------------------- #
# Leads, indexes, queries
# --------------------------------------------------------------------------- #
_PHONEISH_RE = re.compile(r"[\d\s+().\-]+")
_NON_DIGITS_RE = re.compile(r"\D")


class _Row:
    """A stored lead plus the parsed values that queries need."""

    __slots__ = (
        "created_ms", "digits", "haystack", "json_full", "json_plain", "last_ms", "lead",
        "updated_ms",
    )

    def __init__(self, lead: dict[str, Any]) -> None:
        """Parse once at write time so reads never parse."""
        self.lead = lead
        self.created_ms = _stored_ms(lead["created_at"])
        self.updated_ms = _stored_ms(lead["updated_at"])
        last = lead.get("last_interaction_at")
        self.last_ms: int | None = None if last is None else _stored_ms(last)
        self.haystack = ""
        self.digits = ""
        self.json_full: bytes | None = None
        self.json_plain: bytes | None = None
        self.refresh()

    def refresh(self) -> None:
        """Recompute derived data after the lead changed."""
        self.json_full = self.json_plain = None
        parts = (self.lead.get(k) for k in ("contact_name", "contact_email", "contact_phone"))
        self.haystack = "\n".join(str(p).casefold() for p in parts if p is not None)
        phone = self.lead.get("contact_phone")
        self.digits = _NON_DIGITS_RE.sub("", phone) if isinstance(phone, str) else ""

    def encoded(self, *, include_custom_fields: bool) -> bytes:
        """The lead's JSON, cached: encoding dominated page time otherwise."""
        cached = self.json_full if include_custom_fields else self.json_plain
        if cached is None:
            served = _serve_lead(self.lead, include_custom_fields=include_custom_fields)
            cached = _dumps(served)
            if include_custom_fields:
                self.json_full = cached
            else:
                self.json_plain = cached
        return cached

    def sort_ms(self, sort_by: str) -> int | None:
        """The parsed value of the sort column."""
        if sort_by == "updated_at":
            return self.updated_ms
        if sort_by == "created_at":
            return self.created_ms
        return self.last_ms


@dataclass(frozen=True)
class _Cursor:
    """Decoded keyset position: the last lead returned on the previous page."""

    sort_by: str
    sort_dir: str
    value_ms: int
    lead_id: str

    def encode(self) -> str:
        """Opaque to clients: base64url (unpadded) of a small JSON object."""
        data = {"s": self.sort_by, "d": self.sort_dir, "v": format_ms(self.value_ms),
                "i": self.lead_id}
        raw = json.dumps(data, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        """Parse a client-supplied cursor; any damage is a 400."""
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            data = _cursor_fields(json.loads(raw.decode()))
            return cls(data["s"], data["d"], _stored_ms(data["v"]), data["i"])
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise ApiError(400, "Invalid cursor.") from None


def _cursor_fields(data: object) -> dict[str, str]:
    """Check the decoded cursor has exactly our four string fields."""
    if not isinstance(data, dict) or set(data) != {"s", "d", "v", "i"}:
        msg = "cursor is not an object with s, d, v, i"
        raise TypeError(msg)
    if not all(isinstance(value, str) for value in data.values()):
        msg = "cursor fields must be strings"
        raise TypeError(msg)
    return data


@dataclass(frozen=True)
class _Query:
    """Validated query parameters of one list request."""

    status: str | None = None
    stage_id: str | None = None
    search: str | None = None
    created_since: int | None = None
    updated_since: int | None = None
    lead_line: str | None = None
    sort_by: str = "updated_at"
    sort_dir: str = "asc"
    include_custom_fields: bool = False
    cursor: _Cursor | None = None
    limit: int = 20
    offset: int = 0

    def filter_key(self) -> tuple[Any, ...]:
        """Everything ``total`` depends on (not sort, cursor or paging)."""
        return (self.status, self.stage_id, self.search, self.created_since,
                self.updated_since, self.lead_line)


def _bad(message: str) -> ApiError:
    """Shorthand for the 400 every validation failure gets."""
    return ApiError(400, message)


def _enum_param(params: dict[str, str], name: str, allowed: Sequence[str]) -> str | None:
    """An enum filter; unknown values are a 400, never an empty result."""
    value = params.get(name)
    if value is not None and value not in allowed:
        msg = f"Invalid {name}: expected one of {', '.join(allowed)}."
        raise _bad(msg)
    return value


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """Digits only: ``int()`` would also take ``" 5"``, ``"+5"`` and ``"5_0"``."""
    text = params.get(name)
    if text is None:
        return default
    digits_only = text.isascii() and text.isdigit()
    too_long = high is not None and len(text) > len(str(high))
    value = int(text) if digits_only and not too_long else -1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        msg = f"Invalid {name}: must be an integer {bound}."
        raise _bad(msg)
    return value


def _since_param(params: dict[str, str], name: str) -> int | None:
    """An inclusive lower bound, rounded *up* to the millisecond grid of leads."""
    text = params.get(name)
    if text is None:
        return None
    try:
        floor_ms, rest = parse_instant(text)
    except ValueError:
        msg = f"Invalid {name}: expected an ISO-8601 date-time with timezone."
        raise _bad(msg) from None
    return floor_ms + 1 if rest else floor_ms


def _bool_param(params: dict[str, str], name: str) -> bool:
    """Silent in the docs: only ``true``/``false``; ``True`` or ``1`` is a 400.

    Being strict surfaces a tap that serialises Python booleans naively.
    """
    text = params.get(name, "false")
    if text not in ("true", "false"):
        msg = f"Invalid {name}: expected true or false."
        raise _bad(msg)
    return text == "true"


def _stage_param(params: dict[str, str]) -> str | None:
    """``stageId`` is documented as a uuid, so anything else is a 400."""
    text = params.get("stageId")
    if text is None:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        msg = "Invalid stageId: expected a UUID."
        raise _bad(msg) from None


def _cursor_param(params: dict[str, str], sort_by: str, sort_dir: str) -> _Cursor | None:
    """Decode the cursor and insist it belongs to this sort."""
    text = params.get("cursor")
    if text is None:
        return None
    if sort_by not in _INDEXED_SORTS:
        # Documented: cursor paging exists for created_at/updated_at only.
        # last_interaction_at is nullable, so a keyset over it is ill-defined;
        # such pages return next_cursor=null and page by offset instead.
        msg = f"Cursor paging is not supported for sort_by={sort_by}; use offset."
        raise _bad(msg)
    cursor = _Cursor.decode(text)
    if (cursor.sort_by, cursor.sort_dir) != (sort_by, sort_dir):
        msg = "Cursor was issued for a different sort_by/sort_dir."
        raise _bad(msg)
    return cursor


def parse_query(params: dict[str, str]) -> _Query:
    """Validate every documented parameter; unknown ones are ignored.

    Silent in the docs: unknown parameters are ignored (forward compatible),
    an empty ``search`` means no search, and ``offset`` > 0 together with a
    cursor is a 400 because the two paging models contradict each other.
    """
    sort_by = _enum_param(params, "sort_by", _SORT_FIELDS) or "updated_at"
    sort_dir = _enum_param(params, "sort_dir", ("asc", "desc")) or "asc"
    query = _Query(
        status=_enum_param(params, "status", STATUSES),
        stage_id=_stage_param(params),
        search=params.get("search", "").strip().casefold() or None,
        created_since=_since_param(params, "created_since"),
        updated_since=_since_param(params, "updated_since"),
        lead_line=_enum_param(params, "lead_line", _LEAD_LINES),
        sort_by=sort_by,
        sort_dir=sort_dir,
        include_custom_fields=_bool_param(params, "include_custom_fields"),
        cursor=_cursor_param(params, sort_by, sort_dir),
        limit=_int_param(params, "limit", 20, 1, 100),
        offset=_int_param(params, "offset", 0, 0, None),
    )
    if query.cursor is not None and query.offset:
        msg = "cursor and offset cannot be combined."
        raise _bad(msg)
    return query


def _search_predicate(term: str) -> _Predicate:
    """Case-insensitive substring over name, email and phone.

    Phone matching ignores formatting: when the term looks like a phone number
    (digits plus ``+ - ( ) .`` and spaces) its digits are matched against the
    phone's digits, so ``(206) 555-0123`` finds ``+12065550123``. A term such
    as an e-mail that merely contains a digit is matched as text only, or
    ``jo3@x.com`` would match every phone containing a 3.
    """
    digits = _NON_DIGITS_RE.sub("", term) if _PHONEISH_RE.fullmatch(term) else ""
    if digits:
        return lambda row: term in row.haystack or digits in row.digits
    return lambda row: term in row.haystack


def _predicates(query: _Query, skip_since: str | None = None) -> list[_Predicate]:
    """Build row filters; the since bound served by an index can be skipped."""
    preds: list[_Predicate] = []
    if query.status is not None:
        status = query.status
        preds.append(lambda row: row.lead.get("status") == status)
    if query.stage_id is not None:
        stage = query.stage_id
        preds.append(lambda row: _stage_id(row) == stage)
    if query.lead_line is not None:
        line = query.lead_line
        preds.append(lambda row: (row.lead.get("custom_fields") or {}).get("lead_line") == line)
    if query.search is not None:
        preds.append(_search_predicate(query.search))
    if query.created_since is not None and skip_since != "created_at":
        created = query.created_since
        preds.append(lambda row: row.created_ms >= created)
    if query.updated_since is not None and skip_since != "updated_at":
        updated = query.updated_since
        preds.append(lambda row: row.updated_ms >= updated)
    return preds


def _stage_id(row: _Row) -> str:
    """The lead's stage id, normalised like the stageId parameter."""
    stage = row.lead.get("current_stage") or {}
    return str(stage.get("id", "")).lower()


def _matches(row: _Row, preds: list[_Predicate]) -> bool:
    """All predicates hold."""
    return all(pred(row) for pred in preds)


_IndexKey = tuple[int, str]


class _LeadStore:
    """Leads plus (instant, id) indexes for the two cursor-pageable sorts.

    Keeping the indexes sorted makes a page O(log N + page) instead of an
    O(N log N) sort per request; only filters other than the since bounds scan.
    """

    def __init__(self, leads: Iterable[dict[str, Any]]) -> None:
        """Index the initial leads and start the data clock after all of them."""
        self.rows: dict[str, _Row] = {}
        for lead in leads:
            if lead["id"] in self.rows:
                msg = f"duplicate lead id {lead['id']}"
                raise ValueError(msg)
            self.rows[lead["id"]] = _Row(lead)
        self.by_updated: list[_IndexKey] = sorted((r.updated_ms, i) for i, r in self.rows.items())
        self.by_created: list[_IndexKey] = sorted((r.created_ms, i) for i, r in self.rows.items())
        self.clock_ms = max(
            (max(r.updated_ms, r.created_ms, r.last_ms or 0) for r in self.rows.values()),
            default=_stored_ms("2026-01-05T09:00:00.000Z"),
        )
        self.version = 0
        self._totals: dict[tuple[Any, ...], int] = {}
        self._totals_version = 0

    # -- writes ------------------------------------------------------------ #
    def tick(self) -> int:
        """Advance the data clock: "now" is strictly after every timestamp."""
        self.clock_ms += _DATA_CLOCK_STEP_MS
        return self.clock_ms

    def observe(self, ms: int) -> None:
        """Keep the data clock ahead of any timestamp a test sets by hand."""
        self.clock_ms = max(self.clock_ms, ms)
        self.version += 1

    def insert(self, lead: dict[str, Any]) -> None:
        """Add a new lead to rows and both indexes."""
        row = _Row(lead)
        self.rows[lead["id"]] = row
        bisect.insort(self.by_updated, (row.updated_ms, lead["id"]))
        bisect.insort(self.by_created, (row.created_ms, lead["id"]))
        self.observe(max(row.updated_ms, row.created_ms))

    def set_updated(self, lead_id: str, ms: int) -> None:
        """Move a lead in the updated index; the string is MEGA-formatted."""
        row = self.rows[lead_id]
        old = bisect.bisect_left(self.by_updated, (row.updated_ms, lead_id))
        del self.by_updated[old]
        row.updated_ms = ms
        row.lead["updated_at"] = format_ms(ms)
        row.refresh()
        bisect.insort(self.by_updated, (ms, lead_id))
        self.observe(ms)

    def max_updated_ms(self) -> int:
        """The newest ``updated_at`` currently stored."""
        return self.by_updated[-1][0] if self.by_updated else self.clock_ms

    # -- reads ------------------------------------------------------------- #
    def total(self, query: _Query) -> int:
        """Count matches ignoring cursor/offset, cached per data version."""
        if self._totals_version != self.version:
            self._totals.clear()
            self._totals_version = self.version
        key = query.filter_key()
        if key not in self._totals:
            self._totals[key] = self._count(query)
        return self._totals[key]

    def _count(self, query: _Query) -> int:
        """Use an index when the only filter is one since bound."""
        for sort_by, index in (("updated_at", self.by_updated), ("created_at", self.by_created)):
            if not _predicates(query, skip_since=sort_by):
                return len(index) - self._lower(index, query, sort_by)
        preds = _predicates(query)
        return sum(1 for row in self.rows.values() if _matches(row, preds))

    @staticmethod
    def _lower(index: list[_IndexKey], query: _Query, sort_by: str) -> int:
        """First index position allowed by the since bound on the sort field."""
        since = query.updated_since if sort_by == "updated_at" else query.created_since
        return 0 if since is None else bisect.bisect_left(index, (since,))

    def page(self, query: _Query) -> tuple[list[_Row], bool]:
        """Return the page's rows and whether any matching lead follows them."""
        if query.sort_by not in _INDEXED_SORTS:
            return self._page_by_sorting(query)
        index = self.by_updated if query.sort_by == "updated_at" else self.by_created
        lo = self._lower(index, query, query.sort_by)
        positions = self._positions(index, lo, query)
        preds = _predicates(query, skip_since=query.sort_by)
        wanted = query.limit + 1
        if not preds:
            chosen = positions[query.offset: query.offset + wanted]
            rows = [self.rows[index[p][1]] for p in chosen]
        else:
            rows = self._scan(index, positions, preds, query.offset, wanted)
        return rows[: query.limit], len(rows) > query.limit

    @staticmethod
    def _positions(index: list[_IndexKey], lo: int, query: _Query) -> range:
        """Index positions strictly after the cursor, in walking order.

        Keyset on (value, id): a lead updated mid-walk gets a later value, so
        it moves past the cursor and is served again later in the same walk.
        """
        cursor = query.cursor
        at = None if cursor is None else (cursor.value_ms, cursor.lead_id)
        if query.sort_dir == "asc":
            start = lo if at is None else max(lo, bisect.bisect_right(index, at))
            return range(start, len(index))
        end = len(index) if at is None else bisect.bisect_left(index, at)
        return range(end - 1, lo - 1, -1)

    def _scan(self, index: list[_IndexKey], positions: range, preds: list[_Predicate],
              skip: int, wanted: int) -> list[_Row]:
        """Walk the index applying filters until enough rows are found."""
        rows: list[_Row] = []
        for pos in positions:
            row = self.rows[index[pos][1]]
            if not _matches(row, preds):
                continue
            if skip:
                skip -= 1
                continue
            rows.append(row)
            if len(rows) == wanted:
                break
        return rows

    def _page_by_sorting(self, query: _Query) -> tuple[list[_Row], bool]:
        """``last_interaction_at``: nullable, not indexed, offset paging only.

        Silent in the docs: nulls sort last in ascending order and, as the
        exact reverse, first in descending order (PostgreSQL's default).
        """
        preds = _predicates(query)
        matched = [row for row in self.rows.values() if _matches(row, preds)]

        def key(row: _Row) -> tuple[int, int, str]:
            return (row.last_ms is None, row.last_ms or 0, row.lead["id"])

        matched.sort(key=key, reverse=query.sort_dir == "desc")
        chosen = matched[query.offset: query.offset + query.limit]
        return chosen, False


def _serve_lead(lead: dict[str, Any], *, include_custom_fields: bool) -> dict[str, Any]:
    """The lead as served: ``custom_fields`` only when asked for."""
    if include_custom_fields:
        return lead
    return {k: v for k, v in lead.items() if k != "custom_fields"}


def _copy_lead(lead: dict[str, Any]) -> dict[str, Any]:
    """Copy deep enough that callers cannot reach the emulator's state."""
    copied = dict(lead)
    for key in ("custom_fields", "current_stage", "owner"):
        if isinstance(copied.get(key), dict):
            copied[key] = dict(copied[key])
    return copied


def _ingest(lead: dict[str, Any]) -> dict[str, Any]:
    """Copy a caller's lead and re-spell its timestamps as MEGA serves them.

    Silent in the docs: missing fields are not invented (tests may build
    deliberately odd leads), but ``custom_fields`` defaults to ``{}`` because
    the API always has that object to return.
    """
    copied = _copy_lead(lead)
    for key in ("created_at", "updated_at", "last_interaction_at"):
        if copied.get(key) is not None:
            copied[key] = format_ms(_stored_ms(copied[key]))
    copied.setdefault("custom_fields", {})
    return copied


# --------------------------------------------------------------------------- #
# HTTP plumbing
# --------------------------------------------------------------------------- #
class _Server(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can cut idle keep-alives."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: MegaEmulator) -> None:
        """Bind immediately so the port is known."""
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any,
    ) -> None:
        """Clients that hang up (timeouts, dropped faults) are normal, not errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands every method to the emulator and writes what it decides."""

    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks need throughput
    # Headers and body are separate writes; with Nagle on, each response
    # would wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "MegaEmulator/1.0"
    timeout = 120

    def version_string(self) -> str:
        """No Python version in the Server header, as a production API."""
        return self.server_version

    def setup(self) -> None:
        """Register the connection for shutdown."""
        super().setup()
        server = self._server()
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        server = self._server()
        with server.connections_lock:
            server.connections.discard(self.connection)
        super().finish()

    def _server(self) -> _Server:
        """The typed server (``self.server`` is typed as a BaseServer)."""
        server = self.server
        if not isinstance(server, _Server):  # pragma: no cover - wiring error
            raise TypeError(type(server))
        return server

    def _dispatch(self) -> None:
        """Serve one request of any method."""
        self._drain_body()
        response = self._server().emulator.handle(self.command, self.path, self.headers)
        if response.body is None:
            self.close_connection = True  # "drop": no status line, just EOF
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _drain_body(self) -> None:
        """Read a request body so the keep-alive stream stays in sync."""
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            self.rfile.read(int(length))
        elif self.headers.get("Transfer-Encoding"):
            self.close_connection = True

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Route every ``do_<VERB>`` to the emulator.

        Any verb, even an unknown one, then gets the API's JSON 405/404
        envelope instead of http.server's HTML 501 page.
        """
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silent unless verbose: per-request lines would drown test output."""
        if self._server().emulator.verbose:
            super().log_message(format, *args)


# --------------------------------------------------------------------------- #
# The emulator
# --------------------------------------------------------------------------- #
@dataclass
class _FaultState:
    """A fault with its own hit counter and random stream."""

    fault: Fault
    rng: random.Random
    hits: int = 0

    def fires(self, k: int) -> bool:
        """Decide (and count) whether the fault hits request ``k``."""
        fault = self.fault
        if fault.at_request is not None:
            count = 1 if fault.count is None else fault.count
            hit = fault.at_request <= k < fault.at_request + count
        else:
            exhausted = fault.count is not None and self.hits >= fault.count
            hit = not exhausted and self.rng.random() < fault.probability
        self.hits += hit
        return hit


def _redacted(headers: Message) -> dict[str, str]:
    """Headers as recorded: the bearer token must never be kept."""
    return {
        name: "<redacted>" if name.lower() == "authorization" else value
        for name, value in headers.items()
    }


def _bearer(headers: Message) -> str | None:
    """The presented token, or None when there is no Bearer credential."""
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class MegaEmulator:
    """MEGA's lead list endpoint over a real socket, with scripted trouble.

    All state sits behind one re-entrant lock: requests are served one at a
    time (except a "slow" fault's sleep), which keeps recorded order, request
    numbering and data changes deterministic.
    """

    def __init__(  # noqa: PLR0913 - the documented test interface
        self,
        leads: list[dict[str, Any]] | None = None,
        *,
        n_leads: int = 0,
        seed: int = 0,
        token: str | None = None,
        customer_id: str | None = None,
        scopes: Sequence[str] = (READ_SCOPE,),
        rate_windows: Sequence[RateWindow] | None = None,
        clock: Callable[[], float] = time.monotonic,
        port: int = 0,
        host: str = "127.0.0.1",
        verbose: bool = False,
    ) -> None:
        """Build state now; bind the socket only in :meth:`start`."""
        self.token = token or DEMO_TOKEN
        self.customer_id = customer_id or DEMO_CUSTOMER_ID
        self.scopes = tuple(scopes)
        self.host = host
        self.port = port
        self.verbose = verbose
        self.rate_limited_count = 0
        if rate_windows is None:
            rate_windows = [RateWindow(limit=60, seconds=60), RateWindow(limit=1000, seconds=3600)]
        self._limiter = _RateLimiter(rate_windows, clock)
        if leads is None:
            initial = generate_leads(n_leads, seed=seed, customer_id=self.customer_id)
        else:
            initial = [_ingest(lead) for lead in leads]
        self._store = _LeadStore(initial)
        # Reproducible test data, not security: S311 does not apply.
        self._rng = random.Random(f"mega-emulator-mutations-{seed}")  # noqa: S311
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_FaultState] = []
        self._callbacks: dict[int, list[Callable[[MegaEmulator], object]]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------- #
    def start(self) -> MegaEmulator:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"mega-emulator-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.connections_lock:
            for conn in list(server.connections):
                with contextlib.suppress(OSError):  # already closed by the peer
                    conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MegaEmulator:  # noqa: PYI034 - typing.Self needs 3.11
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Always stop, even when the test failed."""
        self.stop()

    @property
    def url(self) -> str:
        """Base URL (no trailing slash); still readable after ``stop()``."""
        if self.port == 0:
            msg = "emulator not started: the port is not known yet"
            raise RuntimeError(msg)
        return f"http://{self.host}:{self.port}"

    # -- observation ------------------------------------------------------- #
    @property
    def leads(self) -> list[dict[str, Any]]:
        """Current truth, in (updated_at, id) order, with custom fields."""
        with self._lock:
            store = self._store
            return [_copy_lead(store.rows[lead_id].lead) for _, lead_id in store.by_updated]

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """Requests received, including dropped and faulted ones."""
        with self._lock:
            return len(self._requests)

    # -- scripting --------------------------------------------------------- #
    def add_fault(self, fault: Fault) -> None:
        """Schedule a fault; earlier-added faults win when several match."""
        with self._lock:
            rng = random.Random(fault.seed)  # noqa: S311 - reproducible storms
            self._faults.append(_FaultState(fault, rng))

    def on_request(self, k: int, callback: Callable[[MegaEmulator], object]) -> None:
        """Run ``callback(emu)`` just before request ``k`` (1-based) is served."""
        with self._lock:
            self._callbacks.setdefault(k, []).append(callback)

    # -- data changes ------------------------------------------------------ #
    def _pick(self, count: int, seed: int | None, pool: list[str]) -> list[str]:
        """Choose leads reproducibly: from ``seed`` or the emulator's own stream."""
        if count > len(pool):
            msg = f"cannot pick {count} leads out of {len(pool)}"
            raise ValueError(msg)
        rng = self._rng if seed is None else random.Random(seed)  # noqa: S311 - test data
        return rng.sample(pool, count)

    def update_leads(
        self,
        ids: list[str] | None = None,
        count: int | None = None,
        seed: int | None = None,
        **field_changes: Any,
    ) -> list[str]:
        """Change leads and stamp them with the data clock's next "now".

        Without ``ids``, ``count`` (default 1) leads are picked. Without field
        changes an interaction is recorded (``interaction_count`` + 1,
        ``last_interaction_at`` = now). ``custom_fields`` changes are merged
        into the existing object. All changed leads share one ``updated_at``,
        as one transaction would.
        """
        forbidden = {"id", "customer_id", "created_at", "updated_at"} & set(field_changes)
        if forbidden:
            msg = f"cannot change {sorted(forbidden)} (use set_updated_at for updated_at)"
            raise ValueError(msg)
        with self._lock:
            store = self._store
            if ids is None:
                ids = self._pick(count or 1, seed, list(store.rows))
            chosen = list(ids)
            missing = [i for i in chosen if i not in store.rows]
            if missing:
                raise KeyError(missing[0])
            now = store.tick()
            for lead_id in chosen:
                self._apply(lead_id, field_changes, now)
                store.set_updated(lead_id, now)
            return chosen

    def _apply(self, lead_id: str, changes: dict[str, Any], now: int) -> None:
        """Apply field changes in place, keeping search data in sync."""
        row = self._store.rows[lead_id]
        lead = row.lead
        if not changes:
            changes = {
                "interaction_count": int(lead.get("interaction_count") or 0) + 1,
                "last_interaction_at": format_ms(now),
            }
        for key, value in changes.items():
            if key == "custom_fields":
                lead["custom_fields"] = {**(lead.get("custom_fields") or {}), **value}
            elif key == "last_interaction_at" and value is not None:
                row.last_ms = _stored_ms(value)
                lead[key] = format_ms(row.last_ms)
            else:
                # Unknown keys are allowed: tests may add a field MEGA starts
                # sending to prove the tap passes it through.
                lead[key] = dict(value) if isinstance(value, dict) else value
                if key == "last_interaction_at":
                    row.last_ms = None
        row.refresh()

    def insert_leads(self, n: int, seed: int | None = None) -> list[dict[str, Any]]:
        """Create ``n`` leads whose created_at and updated_at are "now"."""
        with self._lock:
            store = self._store
            gen_seed = self._rng.getrandbits(32) if seed is None else seed
            fresh = generate_leads(n, seed=gen_seed, customer_id=self.customer_id)
            now = format_ms(store.tick())
            for lead in fresh:
                while lead["id"] in store.rows:
                    lead["id"] = make_uuid(self._rng)
                lead.update(created_at=now, updated_at=now, last_interaction_at=None,
                            interaction_count=0)
                store.insert(lead)
            return [_copy_lead(lead) for lead in fresh]

    def late_commit(self, count: int, seconds_before: float, seed: int | None = None) -> list[str]:
        """Commit ``count`` changes stamped ``seconds_before`` the newest updated_at.

        Models a long transaction whose ``updated_at`` was taken at its start:
        it becomes visible after a sync already read past that instant, so a
        tap that never looks back misses it. Only leads older than the stamp
        are chosen, so each change really moves a lead forward in time.
        """
        with self._lock:
            store = self._store
            stamp = store.max_updated_ms() - round(seconds_before * 1000)
            pool = [lead_id for ms, lead_id in store.by_updated if ms < stamp]
            chosen = self._pick(count, seed, pool)
            for lead_id in chosen:
                self._apply(lead_id, {}, stamp)
                store.set_updated(lead_id, stamp)
            return chosen

    def set_updated_at(self, lead_id: str, iso_string: str) -> None:
        """Force a lead's ``updated_at`` (sub-millisecond digits are truncated)."""
        with self._lock:
            self._store.set_updated(lead_id, _stored_ms(iso_string))

    # -- request handling -------------------------------------------------- #
    def handle(self, method: str, raw_path: str, headers: Message) -> _Response:
        """Number, record, fault or serve one request (called by the handler)."""
        split = urlsplit(raw_path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        record = RecordedRequest(method, split.path, dict(pairs), _redacted(headers))
        with self._lock:
            self._requests.append(record)
            k = len(self._requests)
            for callback in self._callbacks.pop(k, []):
                callback(self)
            fault = next((s.fault for s in self._faults if s.fires(k)), None)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)  # outside the lock: others keep flowing
            fault = None
        with self._lock:
            if fault is None:
                response = self._serve(method, split.path, pairs, headers)
            else:
                response = self._fault_response(fault, split.path, pairs, headers)
            record.status = response.status if response.body is not None else 0
            self.rate_limited_count += response.status == 429  # noqa: PLR2004
            return response

    def _serve(
        self, method: str, path: str, pairs: list[tuple[str, str]], headers: Message,
    ) -> _Response:
        """Rate-limit, then run the application.

        Silent in the docs: the budget is keyed by the presented token, so
        requests with a wrong token neither spend nor reveal the real token's
        budget. Every request that passes the limiter spends budget, whatever
        its outcome (401, 404 and 400 included), as a gateway limiter does.
        """
        key = _bearer(headers) or ""
        if self._limiter.enabled:
            admitted, rate_headers = self._limiter.admit(key)
            if not admitted:
                return _error_response(429, _RATE_LIMIT_MESSAGE, rate_headers)
        else:
            rate_headers = {}
        response = self._application(method, path, pairs, headers)
        response.headers.update(rate_headers)
        return response

    def _application(
        self, method: str, path: str, pairs: list[tuple[str, str]], headers: Message,
    ) -> _Response:
        """Route, authenticate, validate and list."""
        try:
            self._route(method, path)
            self._authenticate(headers)
            return self._list(self._params(pairs))
        except ApiError as exc:
            return _error_response(exc.status, exc.message, exc.headers)

    @staticmethod
    def _route(method: str, path: str) -> None:
        """404 for unknown paths, 405 for methods other than GET.

        The real API also accepts POST here (create or merge a lead); the
        emulator is read-only, so a tap that tried to write fails loudly.
        Silent in the docs: 405 uses type invalid_request_error, the closest
        documented type, with an ``Allow`` header.
        """
        if path != LEADS_PATH:
            msg = f"No route for {method} {path}."
            raise ApiError(404, msg)
        if method != "GET":
            msg = f"Method {method} is not allowed on {path}."
            raise ApiError(405, msg, {"Allow": "GET"})

    def _authenticate(self, headers: Message) -> None:
        """401/403 as documented; messages never echo a credential."""
        token = _bearer(headers)
        if token is None:
            raise ApiError(401, "Missing bearer token.")
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            raise ApiError(401, "Invalid or revoked token.")
        customer = headers.get("x-customer-id")
        if not customer:
            raise ApiError(401, "Missing x-customer-id header.")
        if customer.strip().lower() != self.customer_id.lower():
            raise ApiError(403, "Token is not authorized for this customer.")
        if READ_SCOPE not in self.scopes:
            msg = f"Token lacks the required scope {READ_SCOPE}."
            raise ApiError(403, msg)

    @staticmethod
    def _params(pairs: list[tuple[str, str]]) -> dict[str, str]:
        """Silent in the docs: a repeated parameter is ambiguous, hence a 400."""
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:
                msg = f"Parameter {name} given more than once."
                raise _bad(msg)
            params[name] = value
        return params

    def _list(self, params: dict[str, str]) -> _Response:
        """The documented five-key page, spliced from per-lead cached JSON."""
        query = parse_query(params)
        store = self._store
        rows, more = store.page(query)
        next_cursor = None
        if more and rows:
            last = rows[-1]
            value = last.sort_ms(query.sort_by)
            if value is not None:
                position = _Cursor(query.sort_by, query.sort_dir, value, last.lead["id"])
                next_cursor = position.encode()
        include = query.include_custom_fields
        leads = b",".join(row.encoded(include_custom_fields=include) for row in rows)
        rest = _dumps({
            "total": store.total(query),
            "limit": query.limit,
            "offset": query.offset,
            "next_cursor": next_cursor,
        })
        return _Response(200, b'{"leads":[' + leads + b"]," + rest[1:], dict(_JSON_TYPE))

    # -- faults ------------------------------------------------------------ #
    def _fault_response(self, fault: Fault, path: str, pairs: list[tuple[str, str]],
                        headers: Message) -> _Response:
        """Misbehave as scripted.

        Faults model trouble in front of the application (a proxy, a flaky
        network), so they neither spend nor check rate budget; they report the
        current budget like any API response, except an HTML proxy page.
        """
        rate_headers = self._limiter.peek(_bearer(headers) or "")
        if fault.kind == "drop":
            return _Response(0, None)
        if fault.kind == "status":
            return self._status_fault(fault, rate_headers)
        if fault.kind == "rate_limit":
            return self._rate_limit_fault(fault, rate_headers)
        if fault.kind == "malformed":
            body = b'{"leads":[{"id":"'  # cut mid-string, as a truncated response would be
            return _Response(200, body, {**_JSON_TYPE, **rate_headers})
        if fault.kind == "bad_shape":
            return _json_response(200, self._bad_shape(path, pairs, headers), rate_headers)
        return _json_response(200, copy.deepcopy(fault.body), rate_headers)

    @staticmethod
    def _status_fault(fault: Fault, rate_headers: dict[str, str]) -> _Response:
        """An error status, as an envelope or as a proxy's HTML page."""
        extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        if fault.html:
            reason = BaseHTTPRequestHandler.responses.get(fault.status, ("Error",))[0]
            page = _PROXY_PAGE.format(code=fault.status, reason=reason).encode()
            return _Response(fault.status, page, {"Content-Type": "text/html", **extra})
        message = "Internal server error." if fault.status >= 500 else "Request failed."  # noqa: PLR2004
        return _error_response(fault.status, message, {**rate_headers, **extra})

    def _rate_limit_fault(self, fault: Fault, rate_headers: dict[str, str]) -> _Response:
        """A 429 the client could not predict (the token is shared)."""
        retry = 1 if fault.retry_after is None else fault.retry_after
        headers = {"Retry-After": str(retry)}
        if rate_headers:
            headers.update({
                "RateLimit-Limit": rate_headers["RateLimit-Limit"],
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(retry),
            })
        return _error_response(429, _RATE_LIMIT_MESSAGE, headers)

    def _bad_shape(
        self, path: str, pairs: list[tuple[str, str]], headers: Message,
    ) -> dict[str, Any]:
        """The real page without ``next_cursor``: valid JSON, wrong shape."""
        real = self._application("GET", path, pairs, headers)
        payload: dict[str, Any] = {"leads": [], "total": 0, "limit": 20, "offset": 0}
        if real.status == 200 and real.body is not None:  # noqa: PLR2004
            payload = json.loads(real.body)
        return {k: v for k, v in payload.items() if k != "next_cursor"}


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #
def _parse_windows(text: str) -> list[RateWindow]:
    """``"60/60,1000/3600"`` -> windows (limit/seconds)."""
    windows = []
    for part in text.split(","):
        limit, _, seconds = part.strip().partition("/")
        try:
            windows.append(RateWindow(int(limit), float(seconds)))
        except ValueError:
            msg = f"bad rate window {part!r}; expected LIMIT/SECONDS"
            raise argparse.ArgumentTypeError(msg) from None
    return windows


def _lead_count(text: str) -> int:
    """``--leads``: a whole number, zero or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected a whole number of leads, 0 or more, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _port(text: str) -> int:
    """``--port``: 0 to 65535 (0 picks a free port), checked before binding."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:  # noqa: PLR2004 - the largest TCP port
        msg = f"expected a port from 0 to 65535 (0: any free port), not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _arg_parser() -> argparse.ArgumentParser:
    """The demo server's options."""
    parser = argparse.ArgumentParser(
        prog="python -m tap_mega.testing.emulator",
        description="Serve an emulated MEGA lead API for demos and manual testing.",
    )
    parser.add_argument("--leads", type=_lead_count, default=5000,
                        help="number of generated leads")
    parser.add_argument("--port", type=_port, default=8765, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=0)
    limits = parser.add_mutually_exclusive_group()
    limits.add_argument("--rate-limit", type=_parse_windows, default=None,
                        help='windows as "LIMIT/SECONDS,...", default "60/60,1000/3600"')
    limits.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C, after printing how to point the tap at it."""
    parser = _arg_parser()
    args = parser.parse_args(argv)
    windows: list[RateWindow] | None = [] if args.no_rate_limit else args.rate_limit
    emu = MegaEmulator(n_leads=args.leads, seed=args.seed, rate_windows=windows,
                       port=args.port, host=args.host, verbose=args.verbose)
    try:
        emu.start()
    except OSError as exc:  # port taken, host unknown: the flags' fault, not a bug
        parser.error(f"argument --port/--host: cannot listen on {args.host}:{args.port}: "
                     f"{exc.strerror or exc}")
    with emu:
        # Printing the demo token is intended: it is a public, fixed demo value.
        sys.stdout.write(
            f"MEGA emulator serving {args.leads} leads at {emu.url}\n"
            f"token:       {emu.token}\ncustomer id: {emu.customer_id}\n"
            f"export TAP_MEGA_API_URL={emu.url} TAP_MEGA_TOKEN={emu.token} "
            f"TAP_MEGA_CUSTOMER_ID={emu.customer_id}\n",
        )
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            sys.stdout.write("stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
