"""The leads stream: the one owner of the bookmark and the walk, and the SDK's hooks.

Records take the SDK's own path to stdout. What one walk fixes and checks is in
walk.py, the schema in schema.py; the private SDK names used here are listed, with
why, in sdk_contract.py.
"""

from __future__ import annotations

import dataclasses
import sys
import typing as t
from functools import cached_property

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
from tap_mega.settings import FILTER_PARAMS
from tap_mega.state.inputs import ACCOUNT_KEY, account_of
from tap_mega.state.lookback import incremental_start
from tap_mega.state.resume import STATE_KEY as RESUME_STATE_KEY
from tap_mega.state.resume import ResumePoint, walk_fingerprint, why_not_resume
from tap_mega.streams.schema import (
    SAMPLE_PARAMS,
    explicit_custom_fields,
    lead_schema,
    sampled_custom_fields,
)
from tap_mega.streams.walk import Walk, earliest_updated_at
from tap_mega.termination import GUARD, Terminated
from tap_mega.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    normalize_timestamp,
    parse_timestamp,
)

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Generator, Iterator

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context


class LeadsStream(MegaStream):
    """CRM leads, walked oldest change first so every page is a resumable checkpoint."""

    name = "leads"
    path = "/api/agents/crm/leads"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    # State is written after every page instead (see `walk`).
    STATE_MSG_FREQUENCY = sys.maxsize
    #: Seconds between progress lines; tests shrink it.
    progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS

    @override
    def __init__(
        self, tap: Tap, *, connection_test: bool = False, catalog_given: bool = False
    ) -> None:
        """`catalog_given`: the sync reads its schema from the catalog, so no sample is needed."""
        super().__init__(tap, connection_test=connection_test)
        self.catalog_given = catalog_given

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """None: MEGA's clock stamps `updated_at`, so ours must not cap the bookmark."""
        return

    def starting_instant(self, context: Context | None) -> dt.datetime | None:
        """The bookmark minus `lookback_window`, never before `start_date`; None: everything."""
        bookmark = self.stream_state_bookmark(context)
        mark = parse_timestamp(bookmark) if bookmark else None
        return incremental_start(mark, self.settings.start, self.settings.lookback)

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """Follow the last lead emitted, but never below the bookmark this run started from.

        The lookback re-reads older leads, which the SDK's sort check refuses; a run
        resumed from any STATE looks back again, so it may re-emit leads, never skip one.
        """
        if self.replication_method != REPLICATION_INCREMENTAL:
            return  # as the SDK: a FULL_TABLE catalog keeps no bookmark
        state = self.get_context_state(context)
        # Canonical, so bookmarks compare as strings; the record keeps MEGA's spelling.
        value = normalize_timestamp(latest_record[self.replication_key])
        if value >= (state.get("replication_key_value") or ""):
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = value

    def stream_state_bookmark(self, context: Context | None) -> str | None:
        """The bookmark (None: none, or FULL_TABLE), made canonical so strings compare."""
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if not value or self.replication_method != REPLICATION_INCREMENTAL:
            return None
        try:
            state["replication_key_value"] = normalize_timestamp(str(value))
        except InvalidTimestampError as exc:
            msg = f"the state's bookmark for '{self.name}' is not a timestamp: {value!r}"
            raise MegaResponseError(msg) from exc
        return t.cast("str", state["replication_key_value"])

    def set_state(self, context: Context | None, key: str, value: t.Any) -> None:
        """Set a key of the stream's state, so that the next STATE is written with it."""
        state = self.get_context_state(context)
        if state.get(key) != value:
            state[key] = value
            self.state_manager.is_flushed = False

    def save_resume_point(self, context: Context | None, point: ResumePoint | None) -> None:
        """Null rather than absent once set: a store merging failed runs' states keeps none."""
        if self.replication_method == REPLICATION_INCREMENTAL:
            self.set_state(context, RESUME_STATE_KEY, point and dataclasses.asdict(point))

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, t.Any]:
        """The documented incremental poll: updated_at ascending, the filters set."""
        params: dict[str, t.Any] = {
            "sort_by": "updated_at",
            "sort_dir": "asc",
            "limit": 1 if self.connection_test else self.settings.page_size,  # --test: one lead
            "include_custom_fields": str(self.settings.include_custom_fields).lower(),
            **{FILTER_PARAMS[setting]: value for setting, value in self.settings.filters.items()},
        }
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    @override
    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Walk the pages; the SDK checkpoints every 10,000 records, a crash here loses a page."""
        point = None
        if self.replication_method == REPLICATION_INCREMENTAL:
            self.set_state(context, ACCOUNT_KEY, account_of(self.config))  # see state/inputs.py
            point = self.saved_resume_point(context)
        try:
            yield from self.walk(context, point)
        except SavedCursorRefusedError as exc:
            self.logger.warning(
                "MEGA refused the cursor the last run saved (%s); starting again "
                "lookback_window before the bookmark.",
                exc,
            )
            yield from self.walk(context, None)

    def saved_resume_point(self, context: Context | None) -> ResumePoint | None:
        """The point the last run saved, when it is safe to follow (resume.py)."""
        saved = self.get_context_state(context).get(RESUME_STATE_KEY)
        point = ResumePoint.from_state(saved)
        if point is None:
            if saved is not None:
                self.logger.warning(
                    "Ignoring the state's %s: not a resume point this tap wrote.",
                    RESUME_STATE_KEY,
                )
            return None
        bookmark = self.stream_state_bookmark(context)
        fingerprint = walk_fingerprint(self.get_url_params(context, None), self.settings.start_date)
        lookback = self.settings.lookback
        reason = why_not_resume(point, bookmark=bookmark, lookback=lookback, walk=fingerprint)
        if reason:
            self.logger.info(
                "Not resuming from the cursor the last run saved: %s. Starting "
                "lookback_window before the bookmark instead.",
                reason,
            )
            return None
        self.logger.info("Resuming the last run's walk from the cursor it saved.")
        return point

    def walk(
        self, context: Context | None, point: ResumePoint | None
    ) -> Generator[dict[str, t.Any], None, None]:
        """One walk through the pages, from the first or from the point a stopped run saved."""
        params = self.get_url_params(context, None)
        if point is None and (start := self.starting_instant(context)) is not None:
            params["updated_since"] = format_timestamp(start)
        elif point is not None and point.updated_since is not None:
            params["updated_since"] = point.updated_since
        already = point.emitted if point else 0
        interval = self.progress_interval_seconds
        progress = Progress(self.pacer, params["limit"], interval=interval, already=already)
        fingerprint = walk_fingerprint(params, self.settings.start_date)  # not updated_since
        walk = Walk(point, params, fingerprint, progress, self.stream_state_bookmark(context))
        paginator = self.get_new_paginator(start=point.cursor if point else None)
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            try:
                while not paginator.finished:
                    response = self.fetch_walk_page(walk, context, paginator.current_value)
                    if response is None:
                        break
                    request_counter.increment()
                    page = self.read_page(response)
                    if notice := walk.served_limit_line(page):
                        self.logger.info(notice)
                    yield from self.emit_leads(walk, page.leads, context)
                    if line := progress.page_done(len(page.leads), page.total):
                        self.logger.info(line)
                    paginator.advance(response)
                    self.save_resume_point(context, walk.resume_point(page.next_cursor, response))
                    self._write_state_message()
                    if self.connection_test:
                        # One lead: the SDK would read a second only to abort on it, with an ERROR.
                        return
            except (Exception, Terminated) as exc:
                if isinstance(exc, (MegaResponseError, SavedCursorRefusedError)):
                    # MEGA's order or cursors are in doubt: the bookmark is the safe start.
                    self.save_resume_point(context, None)
                # The bookmark is the last lead emitted: the next run need not re-read them.
                self._write_state_message()
                raise
        self.logger.info(progress.line(done=paginator.finished))

    def fetch_walk_page(
        self, walk: Walk, context: Context | None, cursor: str | None
    ) -> requests.Response | None:
        """The walk's page at `cursor`; None when the budget stops the run here."""
        params = walk.params if cursor is None else {**walk.params, "cursor": cursor}
        try:
            with GUARD.interruptible():
                return self.fetch_page(context, cursor, params)
        except BudgetExhaustedError as exc:
            for line in walk.stopped_early_lines(exc, self.pacer.max_wait):
                self.logger.warning(line)
            return None
        except MegaRequestError as exc:
            if walk.resumed and cursor == walk.resumed.cursor:  # only ever the first page
                raise SavedCursorRefusedError(str(exc)) from exc
            raise

    def emit_leads(
        self, walk: Walk, leads: list[dict[str, t.Any]], context: Context | None
    ) -> Iterator[dict[str, t.Any]]:
        """Yield a page's leads; a bad one stops the walk, the bookmark moved back before it."""
        for index, lead in enumerate(leads):
            try:
                walk.check(lead)
            except MegaResponseError:
                bookmark = self.stream_state_bookmark(context)
                earliest = earliest_updated_at(leads[index:])
                if bookmark and earliest and earliest < bookmark:  # re-reading beats skipping
                    self.set_state(context, "replication_key_value", earliest)
                raise
            yield lead
            # The RECORD is out and the bookmark moved: a held SIGTERM may stop the run here.
            GUARD.raise_if_pending()

    @override
    def _write_state_message(self) -> None:
        """No STATE in a connection test: `tap-mega --test | target` must move no bookmark."""
        if not self.connection_test:
            super()._write_state_message()

    @cached_property
    @override
    def schema(self) -> dict[str, t.Any]:
        """Built on first use, as custom fields cost a request: `--about` never asks.

        The setting's fields, else a sample's; none in `--test` (one request), or when a
        catalog was given (the sync reads it). `custom_fields` still carries every value.
        """
        if (explicit := self.settings.custom_fields_schema) is not None:
            return lead_schema(explicit_custom_fields(explicit))
        if not self.settings.include_custom_fields or self.catalog_given or self.connection_test:
            return lead_schema({})
        # Through `fetch_page`, so paced, retried and with a sync's one-line errors.
        with GUARD.interruptible():
            response = self.fetch_page(None, None, dict(SAMPLE_PARAMS))
        declared = sampled_custom_fields(self.read_page(response).leads)
        self.logger.info(
            "Declared %d custom fields from the %d most recently updated leads: %s",
            len(declared),
            SAMPLE_PARAMS["limit"],
            ", ".join(declared) or "none",
        )
        return lead_schema(declared)
