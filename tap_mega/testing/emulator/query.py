"""The list request's parameters: validated into a Query, turned into row filters."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_mega.testing.emulator.cursor import CURSOR_ALPHABETS, Cursor
from tap_mega.testing.emulator.data import NON_DIGITS_RE
from tap_mega.testing.emulator.instants import parse_instant
from tap_mega.testing.emulator.wire import bad
from tap_mega.testing.leadgen import STATUSES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tap_mega.testing.emulator.data import Row

    Predicate = Callable[[Row], bool]

__all__ = [
    "INDEXED_SORTS",
    "LIMIT_READINGS",
    "PageOptions",
    "Query",
    "matches",
    "parse_query",
    "predicates",
    "unique_params",
]

SORT_FIELDS = ("created_at", "updated_at", "last_interaction_at")
INDEXED_SORTS = ("created_at", "updated_at")
_LEAD_LINES = ("buyer", "seller")
_PHONEISH_RE = re.compile(r"[\d\s+().\-]+")
_MAX_LIMIT = 100
LIMIT_READINGS = ("refuse", "cap")


@dataclass(frozen=True)
class PageOptions:
    """Readings of the paging rules the docs leave open; the defaults are the emulator's.

    - ``cursor_alphabet``: ``urlsafe`` (default) or ``standard`` base64 (with
      ``+``, ``/`` and ``=``, which a client must URL-encode);
    - ``limit_above_max``: ``refuse`` (default: a 400) or ``cap`` (served as
      ``max_limit``, and the page's ``limit`` says so);
    - ``max_limit``: the largest page (default: the documented 100), for a
      MEGA that lowers it;
    - ``trailing_empty_page``: a full last page still carries a cursor, and the
      page after it is empty with a null cursor (default: the full last page
      has a null cursor).
    """

    cursor_alphabet: str = "urlsafe"
    limit_above_max: str = "refuse"
    trailing_empty_page: bool = False
    max_limit: int = _MAX_LIMIT

    def __post_init__(self) -> None:
        """Refuse a reading the emulator cannot play."""
        if self.cursor_alphabet not in CURSOR_ALPHABETS:
            msg = f"cursor alphabet must be one of {', '.join(CURSOR_ALPHABETS)}"
            raise ValueError(msg)
        if self.limit_above_max not in LIMIT_READINGS:
            msg = f"limit above the maximum must be one of {', '.join(LIMIT_READINGS)}"
            raise ValueError(msg)
        if self.max_limit < 1:
            msg = "max_limit must be at least 1"
            raise ValueError(msg)


@dataclass(frozen=True)
class Query:
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
    cursor: Cursor | None = None
    limit: int = 20
    offset: int = 0

    def filter_key(self) -> tuple[Any, ...]:
        """Everything ``total`` depends on (not sort, cursor or paging)."""
        return (
            self.status,
            self.stage_id,
            self.search,
            self.created_since,
            self.updated_since,
            self.lead_line,
        )


def unique_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Silent in the docs: a repeated parameter is ambiguous, hence a 400."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            msg = f"Parameter {name} given more than once."
            raise bad(msg)
        params[name] = value
    return params


def _enum_param(params: dict[str, str], name: str, allowed: Sequence[str]) -> str | None:
    """An enum filter; unknown values are a 400, never an empty result."""
    value = params.get(name)
    if value is not None and value not in allowed:
        msg = f"Invalid {name}: expected one of {', '.join(allowed)}."
        raise bad(msg)
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
        raise bad(msg)
    return value


def _since_param(params: dict[str, str], name: str) -> int | None:
    """An inclusive lower bound, rounded *up* to the microsecond grid of instants."""
    text = params.get(name)
    if text is None:
        return None
    try:
        floor_us, rest = parse_instant(text)
    except ValueError:
        msg = f"Invalid {name}: expected an ISO-8601 date-time with timezone."
        raise bad(msg) from None
    return floor_us + 1 if rest else floor_us


def _bool_param(params: dict[str, str], name: str) -> bool:
    """Silent in the docs: only ``true``/``false``; ``True`` or ``1`` is a 400.

    Being strict surfaces a tap that serialises Python booleans naively.
    """
    text = params.get(name, "false")
    if text not in ("true", "false"):
        msg = f"Invalid {name}: expected true or false."
        raise bad(msg)
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
        raise bad(msg) from None


def _limit_param(params: dict[str, str], paging: PageOptions) -> int:
    """1 to ``max_limit`` (100); above it a 400, or ``max_limit`` when the reading caps it."""
    if paging.limit_above_max == "cap":
        return min(paging.max_limit, _int_param(params, "limit", 20, 1, None))
    return _int_param(params, "limit", min(20, paging.max_limit), 1, paging.max_limit)


def _cursor_param(
    params: dict[str, str],
    sort_by: str,
    sort_dir: str,
    alphabet: str,
) -> Cursor | None:
    """Decode the cursor and insist it belongs to this sort."""
    text = params.get("cursor")
    if text is None:
        return None
    if sort_by not in INDEXED_SORTS:
        # Documented: cursor paging exists for created_at/updated_at only.
        # last_interaction_at is nullable, so a keyset over it is ill-defined;
        # such pages return next_cursor=null and page by offset instead.
        msg = f"Cursor paging is not supported for sort_by={sort_by}; use offset."
        raise bad(msg)
    cursor = Cursor.decode(text, alphabet)
    if (cursor.sort_by, cursor.sort_dir) != (sort_by, sort_dir):
        msg = "Cursor was issued for a different sort_by/sort_dir."
        raise bad(msg)
    return cursor


def parse_query(params: dict[str, str], paging: PageOptions | None = None) -> Query:
    """Validate every documented parameter; unknown ones are ignored.

    Silent in the docs: unknown parameters are ignored (forward compatible),
    an empty ``search`` means no search, and ``offset`` > 0 together with a
    cursor is a 400 because the two paging models contradict each other.
    """
    paging = paging or PageOptions()
    sort_by = _enum_param(params, "sort_by", SORT_FIELDS) or "updated_at"
    sort_dir = _enum_param(params, "sort_dir", ("asc", "desc")) or "asc"
    query = Query(
        status=_enum_param(params, "status", STATUSES),
        stage_id=_stage_param(params),
        search=params.get("search", "").strip().casefold() or None,
        created_since=_since_param(params, "created_since"),
        updated_since=_since_param(params, "updated_since"),
        lead_line=_enum_param(params, "lead_line", _LEAD_LINES),
        sort_by=sort_by,
        sort_dir=sort_dir,
        include_custom_fields=_bool_param(params, "include_custom_fields"),
        cursor=_cursor_param(params, sort_by, sort_dir, paging.cursor_alphabet),
        limit=_limit_param(params, paging),
        offset=_int_param(params, "offset", 0, 0, None),
    )
    if query.cursor is not None and query.offset:
        msg = "cursor and offset cannot be combined."
        raise bad(msg)
    return query


def _search_predicate(term: str) -> Predicate:
    """Case-insensitive substring over name, email and phone.

    Phone matching ignores formatting: when the term looks like a phone number
    (digits plus ``+ - ( ) .`` and spaces) its digits are matched against the
    phone's digits, so ``(206) 555-0123`` finds ``+12065550123``. A term such
    as an e-mail that merely contains a digit is matched as text only, or
    ``jo3@x.com`` would match every phone containing a 3.
    """
    digits = NON_DIGITS_RE.sub("", term) if _PHONEISH_RE.fullmatch(term) else ""
    if digits:
        return lambda row: term in row.haystack or digits in row.digits
    return lambda row: term in row.haystack


def predicates(query: Query, skip_since: str | None = None) -> list[Predicate]:
    """Build row filters; the since bound served by an index can be skipped."""
    preds: list[Predicate] = []
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
        preds.append(lambda row: row.created_us >= created)
    if query.updated_since is not None and skip_since != "updated_at":
        updated = query.updated_since
        preds.append(lambda row: row.updated_us >= updated)
    return preds


def _stage_id(row: Row) -> str:
    """The lead's stage id, normalised like the stageId parameter."""
    stage = row.lead.get("current_stage") or {}
    return str(stage.get("id", "")).lower()


def matches(row: Row, preds: list[Predicate]) -> bool:
    """All predicates hold."""
    return all(pred(row) for pred in preds)
