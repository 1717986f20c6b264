"""The walk: MEGA's pages in order, a STATE after each, and where the next run resumes.

A walk fixes its filters and `updated_since` for all its pages (MEGA wants the
same ones on every cursor page), reads each page through `fetch_page`, checks
that leads come in `updated_at` order, and after every page saves the cursor of
the next one with the STATE (see resume.py), so a crash loses at most a page.
What the bookmark is and how it moves belong to the stream (streams.py), which
this base class asks through the abstract accessors below.
"""

from __future__ import annotations

import abc
import datetime as dt
import typing as t

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from typing_extensions import override

from tap_mega.api.client import MegaStream
from tap_mega.budget.progress import PROGRESS_INTERVAL_SECONDS, Progress
from tap_mega.errors import (
    BudgetExhaustedError,
    MegaRequestError,
    MegaResponseError,
    SavedCursorRefusedError,
)
from tap_mega.state.lookback import parse_lookback
from tap_mega.state.resume import STATE_KEY as RESUME_STATE_KEY
from tap_mega.state.resume import ResumePoint, why_not_resume
from tap_mega.state.resume import served_at as resume_served_at
from tap_mega.streams.writer import LineWriter
from tap_mega.termination import GUARD, Terminated
from tap_mega.timestamps import (
    InvalidTimestampError,
    canonical_or_none,
    format_duration,
    format_timestamp,
    normalize_timestamp,
    parse_timestamp,
)

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_mega.api.pages import Page


def utc_now() -> dt.datetime:
    """Now, in UTC: when a page arrived. A function of its own so tests can fix it."""
    return dt.datetime.now(dt.timezone.utc)


class WalkStart(t.NamedTuple):
    """Where a walk begins: its fixed `updated_since`, and a saved cursor to go on from."""

    since: dt.datetime | None
    #: None: the first page.
    cursor: str | None = None
    #: Leads earlier runs emitted in the walk this cursor belongs to.
    emitted: int = 0


class WalkingStream(MegaStream):
    """A stream read as one ascending walk through MEGA's cursor pages."""

    #: Seconds between progress lines; tests shrink it.
    progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Start with no walk under way."""
        super().__init__(*args, **kwargs)
        self._walk_since: dt.datetime | None = None
        #: `walk_fingerprint` of the current walk, fixed with its filters.
        self._walk_key = ""
        #: When the current page arrived: the extraction time of all its records.
        self.page_extracted_at = utc_now()
        #: The page size MEGA said it served, when below `page_size`.
        self._served_limit: int | None = None
        #: The lead last checked and its canonical `updated_at`, for the bookmark.
        self.bookmark_value: tuple[dict[str, t.Any], str] | None = None

    @property
    @abc.abstractmethod
    def page_limit(self) -> int:
        """Leads asked for per request: what a served `limit` is compared with."""

    @abc.abstractmethod
    def starting_instant(self, context: Context | None) -> dt.datetime | None:
        """Where a walk begins when no saved cursor applies; None: everything."""

    @abc.abstractmethod
    def stream_state_bookmark(self, context: Context | None) -> str | None:
        """The bookmark from incoming state, canonical; None when there is none."""

    @abc.abstractmethod
    def current_bookmark(self, context: Context | None) -> str | None:
        """The bookmark as it stands now; None when the run keeps none."""

    @abc.abstractmethod
    def walk_fingerprint(self, context: Context | None) -> str:
        """What a saved cursor is only valid under: the walk's filters (see resume.py)."""

    @abc.abstractmethod
    def move_bookmark_back(self, value: str, context: Context | None) -> None:
        """Lower the bookmark to `value`, never raise it."""

    def walk(self, context: Context | None, start: WalkStart) -> t.Iterator[dict[str, t.Any]]:
        """One walk through the pages, from the first or from a saved cursor."""
        # Fixed for the whole walk: MEGA wants the same filters on every cursor page,
        # while the bookmark it derives from moves with every page.
        self._walk_since = start.since
        self._walk_key = self.walk_fingerprint(context)
        incoming_bookmark = self.current_bookmark(context)
        paginator = self.get_new_paginator(start=start.cursor)
        progress = Progress(
            self.pacer,
            self.page_limit,
            interval=self.progress_interval_seconds,
            already=start.emitted,
        )
        last_updated_at: str | None = None
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            try:
                while not paginator.finished:
                    try:
                        with GUARD.interruptible():
                            response = self.fetch_page(context, paginator.current_value)
                    except BudgetExhaustedError as exc:
                        self.logger.warning(self.stopped_early_message(exc, progress))
                        if stuck := self.stuck_message(incoming_bookmark, progress, context):
                            self.logger.warning(stuck)
                        break
                    except MegaRequestError as exc:
                        if start.cursor is not None and paginator.count == 0:
                            raise SavedCursorRefusedError(str(exc)) from exc
                        raise
                    request_counter.increment()
                    self.page_extracted_at = utc_now()
                    page = self.read_page(response)
                    self.notice_page_limit(page, progress)
                    last_updated_at = yield from self.emit_leads(
                        page.leads, last_updated_at, context
                    )
                    line = progress.page_done(len(page.leads), page.total)
                    paginator.advance(response)
                    next_cursor = None if paginator.finished else paginator.current_value
                    self.save_resume_point(context, next_cursor, response, progress.leads)
                    self._write_state_message()
                    self.write_held_records()
                    if line:
                        self.logger.info(line)
            except (Exception, Terminated) as exc:
                if isinstance(exc, (MegaResponseError, SavedCursorRefusedError)):
                    # MEGA's order or cursors are in doubt: the bookmark is the safe start.
                    self.save_resume_point(context, None, None, 0)
                # The bookmark is the last lead emitted: flushing it now saves the
                # next run from re-reading what this one already delivered.
                self._write_state_message()
                self.write_held_records()
                raise
        self.logger.info(progress.line(done=paginator.finished))

    def walk_start(self, context: Context | None) -> WalkStart:
        """Where this run's walk begins, and with which cursor (None: the first page).

        The cursor the last run saved when it is safe to follow (see resume.py),
        else `lookback_window` before the bookmark.
        """
        since = self.starting_instant(context)
        if self.replication_method != REPLICATION_INCREMENTAL:
            return WalkStart(since)
        saved = self.get_context_state(context).get(RESUME_STATE_KEY)
        point = ResumePoint.from_state(saved)
        if point is None:
            if saved is not None:
                self.logger.warning(
                    "Ignoring the state's %s: not a resume point this tap wrote.",
                    RESUME_STATE_KEY,
                )
            return WalkStart(since)
        reason = why_not_resume(
            point,
            bookmark=self.stream_state_bookmark(context),
            lookback=parse_lookback(self.config.get("lookback_window")),
            walk=self.walk_fingerprint(context),
        )
        if reason:
            self.logger.info(
                "Not resuming from the cursor the last run saved: %s. Starting "
                "lookback_window before the bookmark instead.",
                reason,
            )
            return WalkStart(since)
        self.logger.info("Resuming the last run's walk from the cursor it saved.")
        walk_since = parse_timestamp(point.updated_since) if point.updated_since else None
        return WalkStart(walk_since, point.cursor, point.emitted)

    def save_resume_point(
        self,
        context: Context | None,
        cursor: str | None,
        response: requests.Response | None,
        emitted: int,
    ) -> None:
        """Keep the cursor of the next page in the state; null when there is none.

        Null rather than absent, so a state store that merges the states of
        failed runs into the last good one cannot keep an old point alive.
        `emitted`: the leads the walk has emitted so far, over all its runs.
        """
        if self.replication_method != REPLICATION_INCREMENTAL:
            return
        state = self.get_context_state(context)
        served = resume_served_at(response.headers.get("Date")) if response else None
        point = None
        if cursor is not None and served is not None:
            since = format_timestamp(self._walk_since) if self._walk_since else None
            point = ResumePoint(cursor, since, self._walk_key, served, emitted).to_state()
        if state.get(RESUME_STATE_KEY) != point:
            state[RESUME_STATE_KEY] = point
            self.state_manager.is_flushed = False

    def write_held_records(self) -> None:
        """Write the page's records even when no STATE follows them.

        LineWriter holds records until the next STATE, and the SDK writes no STATE
        when a page leaves the bookmark where it was (leads tied at the bookmark).
        """
        writer = self._tap.message_writer
        if isinstance(writer, LineWriter):
            writer.flush()

    def stopped_early_message(self, exc: BudgetExhaustedError, progress: Progress) -> str:
        """Say how far the run got, why it stopped, and that nothing is lost."""
        total = f" of {progress.total:,}" if progress.total is not None else ""
        earlier = (
            f" ({progress.leads_this_run:,} in this run, the rest in earlier ones)"
            if progress.already
            else ""
        )
        return (
            f"Stopping early: the next request would wait {format_duration(exc.wait)} "
            f"because {exc.reason}, longer than max_wait_seconds="
            f"{self.pacer.max_wait:g}. Emitted {progress.leads:,}{total} leads{earlier}; "
            "the state is saved and the next run resumes from here."
        )

    def stuck_message(
        self, incoming: str | None, progress: Progress, context: Context | None
    ) -> str | None:
        """Warn when a stopped run read leads but left the bookmark where it found it.

        The next run restarts at that bookmark, so it would read the same leads and
        stop at the same place: a scheduled job would never finish, silently.
        """
        if (
            incoming is None
            or progress.leads_this_run == 0
            or self.current_bookmark(context) != incoming
        ):
            return None
        return (
            f"No progress: this run stopped before reading past the bookmark it started "
            f"from ({incoming}), so the next run would start there again. More leads "
            "share that updated_at (with the lookback_window before it) than one run's "
            "budget reaches; raise max_wait_seconds so a run can wait for the budget "
            "and read past them."
        )

    def notice_page_limit(self, page: Page, progress: Progress) -> None:
        """Go on when MEGA caps `limit` below `page_size`, and say so once.

        Pages are followed by their cursor, so a smaller page loses nothing;
        only the ETA, which counts the pages left, needs the served size.
        """
        asked = self.page_limit
        if page.limit is None or page.limit >= asked or page.limit == self._served_limit:
            return
        self._served_limit = page.limit
        progress.serves_pages_of(page.limit)
        self.logger.info(
            "MEGA serves at most %d leads a page (page_size is %d): going on with pages of %d.",
            page.limit, asked, page.limit,
        )

    def emit_leads(
        self, leads: list[dict[str, t.Any]], previous: str | None, context: Context | None
    ) -> t.Generator[dict[str, t.Any], None, str | None]:
        """Yield a page's leads in order; return the last one's canonical `updated_at`."""
        for index, lead in enumerate(leads):
            try:
                previous = self.checked_updated_at(lead, previous)
            except MegaResponseError:
                self.hold_bookmark_before(leads[index:], context)
                raise
            yield lead
            # The SDK has written the RECORD and moved the bookmark: a held
            # SIGTERM may stop the run here.
            GUARD.raise_if_pending()
        return previous

    def checked_updated_at(self, lead: dict[str, t.Any], previous: str | None) -> str:
        """A lead's `updated_at` in canonical form, refusing leads we cannot bookmark.

        The lead itself keeps MEGA's spelling: its RECORD carries the value as
        MEGA sent it, and only the bookmark (`bookmark_value`) is canonical.
        A lead older than the last one emitted is not emitted.
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
        if previous is not None and updated_at < previous:
            msg = (
                f"MEGA returned lead {lead_id} out of order: updated_at {updated_at} "
                f"after {previous} in an ascending walk"
            )
            raise MegaResponseError(msg)
        self.bookmark_value = (lead, updated_at)
        return updated_at

    def hold_bookmark_before(
        self, undelivered: list[dict[str, t.Any]], context: Context | None
    ) -> None:
        """Move the bookmark back to the earliest of a page's leads not emitted.

        Called when a lead breaks the contract: it and every lead after it on
        the page stay undelivered, and a page out of order may hold leads
        older than the one that tripped the check (served in reverse, all but
        its first are). The STATE flushed on the way out then points at or
        before each of them; leads of the page emitted before the trip are at
        or after the bookmark too, so a resumed run reads them again rather
        than skipping any.
        """
        # A lead without a usable instant cannot be bookmarked: it is left out.
        stamps = [
            stamp for lead in undelivered if (stamp := canonical_or_none(lead.get("updated_at")))
        ]
        if stamps:
            self.move_bookmark_back(min(stamps), context)
