"""The lead store: rows plus sorted (instant, id) indexes, and the data clock."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from tap_mega.testing.emulator.data import Row
from tap_mega.testing.emulator.instants import stored_us
from tap_mega.testing.emulator.query import INDEXED_SORTS, matches, predicates

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_mega.testing.emulator.query import Predicate, Query

__all__ = ["LeadStore"]

_DATA_CLOCK_STEP_US = 1_000_000
_IndexKey = tuple[int, str]


class LeadStore:
    """Leads plus (instant, id) indexes for the two cursor-pageable sorts.

    Keeping the indexes sorted makes a page O(log N + page) instead of an
    O(N log N) sort per request; only filters other than the since bounds scan.
    """

    def __init__(self, leads: Iterable[dict[str, Any]]) -> None:
        """Index the initial leads and start the data clock after all of them."""
        self.rows: dict[str, Row] = {}
        for lead in leads:
            if lead["id"] in self.rows:
                msg = f"duplicate lead id {lead['id']}"
                raise ValueError(msg)
            self.rows[lead["id"]] = Row(lead)
        self.by_updated: list[_IndexKey] = sorted((r.updated_us, i) for i, r in self.rows.items())
        self.by_created: list[_IndexKey] = sorted((r.created_us, i) for i, r in self.rows.items())
        self.clock_us = max(
            (max(r.updated_us, r.created_us, r.last_us or 0) for r in self.rows.values()),
            default=stored_us("2026-01-05T09:00:00.000Z"),
        )
        self.version = 0
        self._totals: dict[tuple[Any, ...], int] = {}
        self._totals_version = 0

    # -- writes ------------------------------------------------------------ #
    def tick(self) -> int:
        """Advance the data clock: "now" is strictly after every timestamp."""
        self.clock_us += _DATA_CLOCK_STEP_US
        return self.clock_us

    def observe(self, us: int) -> None:
        """Keep the data clock ahead of any timestamp a test sets by hand."""
        self.clock_us = max(self.clock_us, us)
        self.version += 1

    def insert(self, lead: dict[str, Any]) -> None:
        """Add a new lead to rows and both indexes."""
        row = Row(lead)
        self.rows[lead["id"]] = row
        bisect.insort(self.by_updated, (row.updated_us, lead["id"]))
        bisect.insort(self.by_created, (row.created_us, lead["id"]))
        self.observe(max(row.updated_us, row.created_us))

    def set_updated(self, lead_id: str, spelled: str) -> None:
        """Move a lead in the updated index; ``spelled`` is served as it is."""
        row = self.rows[lead_id]
        old = bisect.bisect_left(self.by_updated, (row.updated_us, lead_id))
        del self.by_updated[old]
        row.lead["updated_at"] = spelled
        row.updated_us = us = stored_us(spelled)
        row.refresh()
        bisect.insort(self.by_updated, (us, lead_id))
        self.observe(us)

    def delete(self, lead_id: str) -> None:
        """Remove a lead (deleted, or merged away by MEGA's de-duplication)."""
        row = self.rows.pop(lead_id)
        del self.by_updated[bisect.bisect_left(self.by_updated, (row.updated_us, lead_id))]
        del self.by_created[bisect.bisect_left(self.by_created, (row.created_us, lead_id))]
        self.version += 1

    def max_updated_us(self) -> int:
        """The newest ``updated_at`` currently stored."""
        return self.by_updated[-1][0] if self.by_updated else self.clock_us

    # -- reads ------------------------------------------------------------- #
    def total(self, query: Query) -> int:
        """Count matches ignoring cursor/offset, cached per data version."""
        if self._totals_version != self.version:
            self._totals.clear()
            self._totals_version = self.version
        key = query.filter_key()
        if key not in self._totals:
            self._totals[key] = self._count(query)
        return self._totals[key]

    def _count(self, query: Query) -> int:
        """Use an index when the only filter is one since bound."""
        for sort_by, index in (("updated_at", self.by_updated), ("created_at", self.by_created)):
            if not predicates(query, skip_since=sort_by):
                return len(index) - self._lower(index, query, sort_by)
        preds = predicates(query)
        return sum(1 for row in self.rows.values() if matches(row, preds))

    @staticmethod
    def _lower(index: list[_IndexKey], query: Query, sort_by: str) -> int:
        """First index position allowed by the since bound on the sort field."""
        since = query.updated_since if sort_by == "updated_at" else query.created_since
        return 0 if since is None else bisect.bisect_left(index, (since,))

    def page(self, query: Query) -> tuple[list[Row], bool]:
        """Return the page's rows and whether any matching lead follows them."""
        if query.sort_by not in INDEXED_SORTS:
            return self._page_by_sorting(query)
        index = self.by_updated if query.sort_by == "updated_at" else self.by_created
        lo = self._lower(index, query, query.sort_by)
        positions = self._positions(index, lo, query)
        preds = predicates(query, skip_since=query.sort_by)
        wanted = query.limit + 1
        if not preds:
            chosen = positions[query.offset : query.offset + wanted]
            rows = [self.rows[index[p][1]] for p in chosen]
        else:
            rows = self._scan(index, positions, preds, query.offset, wanted)
        return rows[: query.limit], len(rows) > query.limit

    @staticmethod
    def _positions(index: list[_IndexKey], lo: int, query: Query) -> range:
        """Index positions strictly after the cursor, in walking order.

        Keyset on (value, id): a lead updated mid-walk gets a later value, so
        it moves past the cursor and is served again later in the same walk.
        """
        cursor = query.cursor
        at = None if cursor is None else (cursor.value_us, cursor.lead_id)
        if query.sort_dir == "asc":
            start = lo if at is None else max(lo, bisect.bisect_right(index, at))
            return range(start, len(index))
        end = len(index) if at is None else bisect.bisect_left(index, at)
        return range(end - 1, lo - 1, -1)

    def _scan(
        self,
        index: list[_IndexKey],
        positions: range,
        preds: list[Predicate],
        skip: int,
        wanted: int,
    ) -> list[Row]:
        """Walk the index applying filters until enough rows are found."""
        rows: list[Row] = []
        for pos in positions:
            row = self.rows[index[pos][1]]
            if not matches(row, preds):
                continue
            if skip:
                skip -= 1
                continue
            rows.append(row)
            if len(rows) == wanted:
                break
        return rows

    def _page_by_sorting(self, query: Query) -> tuple[list[Row], bool]:
        """``last_interaction_at``: nullable, not indexed, offset paging only.

        Silent in the docs: nulls sort last in ascending order and, as the
        exact reverse, first in descending order (PostgreSQL's default).
        """
        preds = predicates(query)
        matched = [row for row in self.rows.values() if matches(row, preds)]

        def key(row: Row) -> tuple[int, int, str]:
            return (row.last_us is None, row.last_us or 0, row.lead["id"])

        matched.sort(key=key, reverse=query.sort_dir == "desc")
        chosen = matched[query.offset : query.offset + query.limit]
        return chosen, False
