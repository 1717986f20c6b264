"""One walk through MEGA's pages: its page loop, fixed query, order check and resume point.

MEGA wants the same filters and `updated_since` on every cursor page, and the
bookmark is only safe while leads come in `updated_at` order. The stream (leads.py)
owns the bookmark and says where a walk starts; a `Walk` holds what one walk fixes
and has seen, and `walk_pages` reads it, a STATE after every page.
"""

from __future__ import annotations

import contextlib
import typing as t
from dataclasses import dataclass

from tap_mega.errors import (
    BudgetExhaustedError,
    MegaRequestError,
    MegaResponseError,
    SavedCursorRefusedError,
)
from tap_mega.state.resume import ResumePoint, served_at
from tap_mega.termination import GUARD, Terminated
from tap_mega.timestamps import InvalidTimestampError, format_duration, normalize_timestamp

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    import requests
    from singer_sdk.helpers.types import Context

    from tap_mega.api.client import MegaStream
    from tap_mega.api.pages import Page
    from tap_mega.budget.progress import Progress

#: A lead on its way out, and the walk's resume point after each page.
Fit = t.Callable[[dict[str, t.Any]], None]
Save = t.Callable[["Walk", ResumePoint | None], None]


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
    #: The last `updated_at` passed; after a bad page, the earliest the page did not send.
    last_updated_at: str | None = None
    #: The page size MEGA said it served, when below the one asked for.
    served_limit: int | None = None
    #: A bad lead moves the bookmark back before it; a pass behind the bookmark does not.
    moves_bookmark: bool = True

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


def walk_pages(
    walk: Walk, stream: MegaStream, context: Context | None, save: Save, *, fit: Fit
) -> Generator[dict[str, t.Any], None, bool]:
    """Yield the walk's leads page by page, a STATE after each; True when it read to the end.

    `fit` readies each lead for its RECORD (custom fields). A budget stop ends it
    early and cleanly; any failure leaves a STATE at the last lead emitted.
    """
    paginator = stream.get_new_paginator(start=walk.resumed.cursor if walk.resumed else None)
    with stream.get_http_request_counter() as request_counter:
        request_counter.with_context(context)
        try:
            while not paginator.finished:
                response = fetch_walk_page(walk, stream, context, paginator.current_value)
                if response is None:
                    return False
                request_counter.increment()
                page = stream.read_page(response)
                if notice := walk.served_limit_line(page):
                    stream.logger.info(notice)
                yield from emit_leads(walk, stream, page.leads, context, fit)
                if line := walk.progress.page_done(len(page.leads), page.total):
                    stream.logger.info(line)
                paginator.advance(response)
                save(walk, walk.resume_point(page.next_cursor, response))
                stream._write_state_message()  # noqa: SLF001 (sdk_contract.py)
                if stream.connection_test:
                    # One lead: the SDK would read a second only to abort on it, with an ERROR.
                    return False
        except (Exception, Terminated) as exc:
            if isinstance(exc, (MegaResponseError, SavedCursorRefusedError)):
                # MEGA's order or cursors are in doubt: the bookmark is the safe start.
                save(walk, None)
            # The bookmark is the last lead emitted: the next run need not re-read them.
            stream._write_state_message()  # noqa: SLF001 (sdk_contract.py)
            raise
    stream.logger.info(walk.progress.line(done=paginator.finished))
    return True


def fetch_walk_page(
    walk: Walk, stream: MegaStream, context: Context | None, cursor: str | None
) -> requests.Response | None:
    """The walk's page at `cursor`; None when the budget stops the run here."""
    params = walk.params if cursor is None else {**walk.params, "cursor": cursor}
    try:
        with GUARD.interruptible():
            return stream.fetch_page(context, cursor, params)
    except BudgetExhaustedError as exc:
        for line in walk.stopped_early_lines(exc, stream.pacer.max_wait):
            stream.logger.warning(line)
        return None
    except MegaRequestError as exc:
        if walk.resumed and cursor == walk.resumed.cursor:  # only ever the first page
            raise SavedCursorRefusedError(str(exc)) from exc
        raise


def emit_leads(
    walk: Walk,
    stream: MegaStream,
    leads: list[dict[str, t.Any]],
    context: Context | None,
    fit: Fit,
) -> Iterator[dict[str, t.Any]]:
    """Yield a page's leads; a bad one stops the walk, the bookmark moved back before it."""
    for index, lead in enumerate(leads):
        try:
            walk.check(lead)
        except MegaResponseError:
            bookmark = stream.get_context_state(context).get("replication_key_value")
            earliest = earliest_updated_at(leads[index:])
            if walk.moves_bookmark and bookmark and earliest and earliest < bookmark:
                stream.set_state(context, "replication_key_value", earliest)  # re-read, not skip
            if earliest and walk.last_updated_at and earliest < walk.last_updated_at:
                # A pass resumes from here (leads.py): before the leads it never sent.
                walk.last_updated_at = earliest
            raise
        fit(lead)
        yield lead
        # The RECORD is out and the bookmark moved: a held SIGTERM may stop the run here.
        GUARD.raise_if_pending()


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
