"""One walk through MEGA's pages: where it starts, its fixed query, its checks, its resume point.

A walk fixes its filters and `updated_since` for all its pages (MEGA wants the
same ones on every cursor page), checks that leads come in `updated_at` order,
and after every page saves the cursor of the next one with the STATE (see
resume.py), so a crash loses at most a page. The stream (leads.py) runs the
page loop and owns the bookmark; a `Walk` holds what one walk fixes and has seen.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_mega.errors import MegaResponseError
from tap_mega.state.resume import STATE_KEY, ResumePoint, why_not_resume
from tap_mega.state.resume import served_at as resume_served_at
from tap_mega.timestamps import (
    InvalidTimestampError,
    canonical_or_none,
    format_duration,
    format_timestamp,
    normalize_timestamp,
    parse_timestamp,
)

if t.TYPE_CHECKING:
    import datetime as dt
    import logging

    import requests

    from tap_mega.api.pages import Page
    from tap_mega.budget.progress import Progress
    from tap_mega.errors import BudgetExhaustedError


class WalkStart(t.NamedTuple):
    """Where a walk begins: its fixed `updated_since`, and a saved cursor to go on from."""

    since: dt.datetime | None
    #: None: the first page.
    cursor: str | None = None
    #: Leads earlier runs emitted in the walk this cursor belongs to.
    emitted: int = 0


def resume_or_restart(  # noqa: PLR0913 - each is one fact the decision weighs
    saved: t.Any,
    *,
    since: dt.datetime | None,
    bookmark: str | None,
    lookback: dt.timedelta,
    fingerprint: str,
    logger: logging.Logger | logging.LoggerAdapter[t.Any],
) -> WalkStart:
    """The saved cursor when it is safe to follow (see resume.py), else a walk from `since`."""
    point = ResumePoint.from_state(saved)
    if point is None:
        if saved is not None:
            logger.warning(
                "Ignoring the state's %s: not a resume point this tap wrote.", STATE_KEY
            )
        return WalkStart(since)
    reason = why_not_resume(point, bookmark=bookmark, lookback=lookback, walk=fingerprint)
    if reason:
        logger.info(
            "Not resuming from the cursor the last run saved: %s. Starting "
            "lookback_window before the bookmark instead.",
            reason,
        )
        return WalkStart(since)
    logger.info("Resuming the last run's walk from the cursor it saved.")
    walk_since = parse_timestamp(point.updated_since) if point.updated_since else None
    return WalkStart(walk_since, point.cursor, point.emitted)


@dataclass
class Walk:
    """One ascending walk: its fixed query, its progress, the last `updated_at` it passed."""

    start: WalkStart
    #: The query of every page but the cursor: filters, sort, limit, `updated_since`.
    params: dict[str, t.Any]
    #: What a saved cursor of this walk is only valid under (resume.walk_fingerprint).
    fingerprint: str
    progress: Progress
    #: The bookmark the walk started from (None: none kept).
    incoming_bookmark: str | None
    last_updated_at: str | None = None
    #: The page size MEGA said it served, when below the one asked for.
    served_limit: int | None = None

    def page_params(self, cursor: str | None) -> dict[str, t.Any]:
        """The query for the page at `cursor` (None: the first)."""
        return self.params if cursor is None else {**self.params, "cursor": cursor}

    def check(self, lead: dict[str, t.Any]) -> None:
        """Refuse a lead we cannot bookmark: no id, no usable `updated_at`, or out of order.

        The lead keeps MEGA's spelling; only the comparison is canonical.
        """
        lead_id = lead.get("id")
        if not isinstance(lead_id, str) or not lead_id:
            msg = f"MEGA returned a lead without an id (updated_at={lead.get('updated_at')!r})"
            raise MegaResponseError(msg)
        raw = lead.get("updated_at")
        try:
            updated_at = normalize_timestamp(raw)  # type: ignore[arg-type]
        except InvalidTimestampError as exc:
            msg = f"MEGA returned lead {lead_id} with an unusable updated_at: {raw!r}"
            raise MegaResponseError(msg) from exc
        previous = self.last_updated_at
        if previous is not None and updated_at < previous:
            msg = (
                f"MEGA returned lead {lead_id} out of order: updated_at {updated_at} "
                f"after {previous} in an ascending walk"
            )
            raise MegaResponseError(msg)
        self.last_updated_at = updated_at

    def resume_point(
        self, cursor: str | None, response: requests.Response | None
    ) -> dict[str, t.Any] | None:
        """The state's record of the next page's cursor; None when there is none to follow."""
        served = resume_served_at(response.headers.get("Date")) if response else None
        if cursor is None or served is None:
            return None
        since = format_timestamp(self.start.since) if self.start.since else None
        return ResumePoint(
            cursor, since, self.fingerprint, served, self.progress.leads
        ).to_state()

    def served_limit_line(self, page: Page, asked: int) -> str | None:
        """Say once that MEGA caps `limit` below `page_size`; the walk goes on.

        Pages are followed by their cursor, so a smaller page loses nothing;
        only the ETA, which counts the pages left, needs the served size.
        """
        if page.limit is None or page.limit >= asked or page.limit == self.served_limit:
            return None
        self.served_limit = page.limit
        self.progress.serves_pages_of(page.limit)
        return (
            f"MEGA serves at most {page.limit} leads a page (page_size is {asked}): "
            f"going on with pages of {page.limit}."
        )

    def stopped_early_line(self, exc: BudgetExhaustedError, max_wait: float) -> str:
        """Say how far the run got, why it stopped, and that nothing is lost."""
        progress = self.progress
        total = f" of {progress.total:,}" if progress.total is not None else ""
        earlier = (
            f" ({progress.leads_this_run:,} in this run, the rest in earlier ones)"
            if progress.already
            else ""
        )
        return (
            f"Stopping early: the next request would wait {format_duration(exc.wait)} "
            f"because {exc.reason}, longer than max_wait_seconds="
            f"{max_wait:g}. Emitted {progress.leads:,}{total} leads{earlier}; "
            "the state is saved and the next run resumes from here."
        )

    def stuck_line(self, now: str | None) -> str | None:
        """Warn when a stopped run read leads but left the bookmark (`now`) where it found it.

        The next run restarts at that bookmark, so it would read the same leads and
        stop at the same place: a scheduled job would never finish, silently.
        """
        incoming = self.incoming_bookmark
        if incoming is None or self.progress.leads_this_run == 0 or now != incoming:
            return None
        return (
            f"No progress: this run stopped before reading past the bookmark it started "
            f"from ({incoming}), so the next run would start there again. More leads "
            "share that updated_at (with the lookback_window before it) than one run's "
            "budget reaches; raise max_wait_seconds so a run can wait for the budget "
            "and read past them."
        )


def earliest_updated_at(undelivered: list[dict[str, t.Any]]) -> str | None:
    """Where the bookmark must go back to when a lead breaks the contract mid-page.

    That lead and every lead after it on the page stay undelivered, and a page
    out of order may hold leads older than the one that tripped the check. The
    STATE flushed on the way out then points at or before each of them; a lead
    without a usable instant cannot be bookmarked and is left out.
    """
    stamps = [
        stamp for lead in undelivered if (stamp := canonical_or_none(lead.get("updated_at")))
    ]
    return min(stamps) if stamps else None
