"""One walk through MEGA's pages: its fixed query, its order check, its resume point.

MEGA wants the same filters and `updated_since` on every cursor page, and the
bookmark is only safe while leads come in `updated_at` order. The stream (leads.py)
runs the page loop and owns the bookmark; a `Walk` holds what one walk fixes and has seen.
"""

from __future__ import annotations

import contextlib
import typing as t
from dataclasses import dataclass

from tap_mega.errors import MegaResponseError
from tap_mega.state.resume import ResumePoint, served_at
from tap_mega.timestamps import InvalidTimestampError, format_duration, normalize_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from tap_mega.api.pages import Page
    from tap_mega.budget.progress import Progress
    from tap_mega.errors import BudgetExhaustedError


@dataclass
class Walk:
    """One ascending walk: its fixed query, its progress, the last `updated_at` it passed."""

    #: The point a stopped run saved that this walk resumes; None: from page one.
    resumed: ResumePoint | None
    #: The query of every page but the cursor: filters, sort, limit, `updated_since`.
    params: dict[str, t.Any]
    #: What a saved cursor of this walk is only valid under (resume.walk_fingerprint).
    fingerprint: str
    progress: Progress
    incoming_bookmark: str | None
    last_updated_at: str | None = None
    #: The page size MEGA said it served, when below the one asked for.
    served_limit: int | None = None

    def check(self, lead: dict[str, t.Any]) -> None:
        """Refuse a lead we cannot bookmark: no id, no usable `updated_at`, or out of order."""
        lead_id, raw = lead.get("id"), lead.get("updated_at")
        if not isinstance(lead_id, str) or not lead_id:
            msg = f"MEGA returned a lead without an id (updated_at={raw!r})"
            raise MegaResponseError(msg)
        try:
            updated_at = normalize_timestamp(raw)  # type: ignore[arg-type]
        except InvalidTimestampError as exc:
            msg = f"MEGA returned lead {lead_id} with an unusable updated_at: {raw!r}"
            raise MegaResponseError(msg) from exc
        if (previous := self.last_updated_at) is not None and updated_at < previous:
            msg = (
                f"MEGA returned lead {lead_id} out of order: updated_at {updated_at} "
                f"after {previous} in an ascending walk"
            )
            raise MegaResponseError(msg)
        self.last_updated_at = updated_at

    def resume_point(self, cursor: str | None, response: requests.Response) -> ResumePoint | None:
        """The state's record of the next page's cursor; None when there is none to follow."""
        served = served_at(response.headers.get("Date"))
        if cursor is None or served is None:
            return None
        since = self.params.get("updated_since")
        return ResumePoint(cursor, since, self.fingerprint, served, self.progress.leads)

    def served_limit_line(self, page: Page) -> str | None:
        """Say once that MEGA caps `limit` below `page_size`: only the ETA needs to know."""
        asked = self.params["limit"]
        if page.limit is None or page.limit >= asked or page.limit == self.served_limit:
            return None
        self.served_limit = page.limit
        self.progress.serves_pages_of(page.limit)
        return (
            f"MEGA serves at most {page.limit} leads a page (page_size is {asked}): "
            f"going on with pages of {page.limit}."
        )

    def stopped_early_lines(self, exc: BudgetExhaustedError, max_wait: float) -> Iterator[str]:
        """How far the run got, why it stopped, that nothing is lost; and if it is stuck."""
        progress = self.progress
        total = f" of {progress.total:,}" if progress.total is not None else ""
        earlier = (
            f" ({progress.leads_this_run:,} in this run, the rest in earlier ones)"
            if progress.already
            else ""
        )
        yield (
            f"Stopping early: the next request would wait {format_duration(exc.wait)} "
            f"because {exc.reason}, longer than max_wait_seconds="
            f"{max_wait:g}. Emitted {progress.leads:,}{total} leads{earlier}; "
            "the state is saved and the next run resumes from here."
        )
        incoming, last = self.incoming_bookmark, self.last_updated_at
        if incoming is not None and last is not None and last <= incoming:
            # The leads it emitted left the bookmark as it found it: the next run would too.
            yield (
                f"No progress: this run stopped before reading past the bookmark it started "
                f"from ({incoming}), so the next run would start there again. More leads "
                "share that updated_at (with the lookback_window before it) than one run's "
                "budget reaches; raise max_wait_seconds so a run can wait for the budget "
                "and read past them."
            )


def earliest_updated_at(undelivered: list[dict[str, t.Any]]) -> str | None:
    """Where the bookmark must go back to when a lead breaks the contract mid-page.

    A page out of order may hold leads older than the one that tripped the check;
    a lead without a usable instant cannot be bookmarked and is left out.
    """
    stamps = []
    for lead in undelivered:
        with contextlib.suppress(InvalidTimestampError):
            stamps.append(normalize_timestamp(lead.get("updated_at")))  # type: ignore[arg-type]
    return min(stamps, default=None)
