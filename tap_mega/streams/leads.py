"""The leads stream: its schema, its filters, its bookmark, its walk, and the SDK's hooks.

Records take the SDK's own path to stdout (selection, conformance, stream maps).
What one walk fixes and checks is walk.py's; what its custom fields are declared
as is schema.py's, from the one sample request made here. What this class
overrides privately is listed, with why, in sdk_contract.py.
"""

from __future__ import annotations

import contextlib
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
from tap_mega.state.resume import walk_fingerprint
from tap_mega.streams.schema import (
    SAMPLE_PARAMS,
    explicit_custom_fields,
    lead_schema,
    sampled_custom_fields,
)
from tap_mega.streams.walk import Walk, WalkStart, earliest_updated_at, resume_or_restart
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
    # State is written after every page instead (see request_records).
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
        """No signpost: a sorted stream's bookmark is always a value we emitted.

        MEGA's clock, not ours, stamps `updated_at`; capping at our clock could
        move the bookmark behind leads already emitted.
        """
        return

    def starting_instant(self, context: Context | None) -> dt.datetime | None:
        """The bookmark minus `lookback_window`, never before `start_date`; None: everything.

        A FULL_TABLE catalog reads everything from `start_date`, whatever the state.
        """
        incremental = self.replication_method == REPLICATION_INCREMENTAL
        bookmark = self.stream_state_bookmark(context) if incremental else None
        return incremental_start(
            parse_timestamp(bookmark) if bookmark else None,
            self.settings.start,
            self.settings.lookback,
        )

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, t.Any],
        *,
        context: Context | None = None,
    ) -> None:
        """Advance the bookmark, but never below the bookmark this run started from.

        The lookback re-reads leads older than the incoming bookmark, which the
        SDK's sort check would reject (and which must not move the bookmark
        back). So the bookmark stays at the incoming value until the walk passes
        it, then follows the last lead emitted. Every STATE written mid-sync is
        thus resumable: a run resumed from it starts `lookback_window` before it
        again, so at worst it re-emits leads (delivery is at least once, keyed on
        `id`), never skips one. The walk checks the order (`Walk.check`).
        """
        if self.replication_method != REPLICATION_INCREMENTAL:
            return  # as the SDK: a FULL_TABLE catalog keeps no bookmark
        state = self.get_context_state(context)
        # Canonical, so bookmarks compare as strings; the record keeps MEGA's spelling.
        value = normalize_timestamp(latest_record[self.replication_key])
        bookmark = state.get("replication_key_value")
        if bookmark and value < bookmark:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value

    def stream_state_bookmark(self, context: Context | None) -> str | None:
        """The bookmark from incoming state, rewritten in canonical form.

        The SDK compares bookmarks as strings, so a hand-written or older state
        with another spelling is normalised before any record is compared to it.
        """
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if not value or state.get("replication_key") != self.replication_key:
            return None
        try:
            canonical = normalize_timestamp(str(value))
        except InvalidTimestampError as exc:
            msg = f"the state's bookmark for '{self.name}' is not a timestamp: {value!r}"
            raise MegaResponseError(msg) from exc
        state["replication_key_value"] = canonical
        return canonical

    def current_bookmark(self, context: Context | None) -> str | None:
        """The bookmark as it stands now; None for a FULL_TABLE run, which keeps none."""
        if self.replication_method != REPLICATION_INCREMENTAL:
            return None
        return self.stream_state_bookmark(context)

    def move_bookmark_back(self, value: str, context: Context | None) -> None:
        """Lower the bookmark to `value` (never raise it): re-reading beats skipping."""
        state = self.get_context_state(context)
        current = state.get("replication_key_value")
        if current and value < str(current):
            state["replication_key_value"] = value
            self.state_manager.is_flushed = False

    def record_account(self, context: Context | None) -> None:
        """Name the account in the bookmark, so no other account's run can use it (state.py)."""
        state = self.get_context_state(context)
        account = account_of(self.config)
        if state.get(ACCOUNT_KEY) != account:
            state[ACCOUNT_KEY] = account
            self.state_manager.is_flushed = False

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: str | None,
    ) -> dict[str, t.Any]:
        """The documented incremental poll: updated_at ascending, the filters set.

        A walk adds its fixed `updated_since` (see `walk`).
        """
        params: dict[str, t.Any] = {
            "sort_by": "updated_at",
            "sort_dir": "asc",
            "limit": self.page_limit,
            "include_custom_fields": str(self.settings.include_custom_fields).lower(),
        }
        for setting, value in self.settings.filters.items():
            params[FILTER_PARAMS[setting]] = value
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    def walk_fingerprint(self, context: Context | None) -> str:
        """What a saved cursor is only valid under (see `resume.walk_fingerprint`)."""
        return walk_fingerprint(self.get_url_params(context, None), self.settings.start_date)

    @property
    def page_limit(self) -> int:
        """Leads per request: `page_size`, or no more than a dry run wants.

        A dry run's leads are the SDK's `ABORT_AT_RECORD_COUNT`, which it sets for
        `--test` (one) and for its own test suite's dry runs; None in a sync.
        """
        page_size, limit = self.settings.page_size, self.ABORT_AT_RECORD_COUNT
        return page_size if limit is None else max(1, min(page_size, limit))

    @override
    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Walk the pages, writing STATE after each one.

        Overridden because the SDK checkpoints every 10,000 records; here a crash
        loses at most one page, and an empty page is only the end when
        `next_cursor` says so.
        """
        if self.ABORT_AT_RECORD_COUNT is not None:
            yield from self.dry_run(context)
            return
        start = WalkStart(self.starting_instant(context))
        if self.replication_method == REPLICATION_INCREMENTAL:
            self.record_account(context)
            start = resume_or_restart(  # the cursor the last run saved, if safe to follow
                self.get_context_state(context).get(RESUME_STATE_KEY),
                since=start.since,
                bookmark=self.stream_state_bookmark(context),
                lookback=self.settings.lookback,
                fingerprint=self.walk_fingerprint(context),
                logger=self.logger,
            )
        try:
            yield from self.walk(context, start)
        except SavedCursorRefusedError as exc:
            self.logger.warning(
                "MEGA refused the cursor the last run saved (%s); starting again "
                "lookback_window before the bookmark.",
                exc,
            )
            yield from self.walk(context, WalkStart(self.starting_instant(context)))

    def dry_run(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """The first `ABORT_AT_RECORD_COUNT` leads (`--test`: one request), then a clean end.

        The SDK's own dry run reads one record more only to abort on it, which
        it logs as an ERROR with a failed sync metric.
        """
        limit = self.ABORT_AT_RECORD_COUNT or 1
        walk = self.walk(context, WalkStart(self.starting_instant(context)))
        with contextlib.closing(walk):
            for count, lead in enumerate(walk, start=1):
                yield lead
                if count >= limit:
                    return

    def walk(
        self, context: Context | None, start: WalkStart
    ) -> Generator[dict[str, t.Any], None, None]:
        """One walk through the pages, from the first or from a saved cursor."""
        # Fixed for the whole walk: MEGA wants the same filters on every cursor page,
        # while the bookmark it derives from moves with every page.
        params = self.get_url_params(context, None)
        if start.since is not None:
            params["updated_since"] = format_timestamp(start.since)
        interval = self.progress_interval_seconds
        progress = Progress(self.pacer, self.page_limit, interval=interval, already=start.emitted)
        walk = Walk(start, params, self.walk_fingerprint(context), progress,
                    self.current_bookmark(context))
        paginator = self.get_new_paginator(start=start.cursor)
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            try:
                while not paginator.finished:
                    response = self.fetch_walk_page(
                        walk, context, paginator.current_value, first=paginator.count == 0
                    )
                    if response is None:
                        break
                    request_counter.increment()
                    page = self.read_page(response)
                    if notice := walk.served_limit_line(page, self.page_limit):
                        self.logger.info(notice)
                    yield from self.emit_leads(walk, page.leads, context)
                    line = progress.page_done(len(page.leads), page.total)
                    paginator.advance(response)
                    next_cursor = None if paginator.finished else paginator.current_value
                    self.save_resume_point(context, walk.resume_point(next_cursor, response))
                    self._write_state_message()
                    if line:
                        self.logger.info(line)
            except (Exception, Terminated) as exc:
                if isinstance(exc, (MegaResponseError, SavedCursorRefusedError)):
                    # MEGA's order or cursors are in doubt: the bookmark is the safe start.
                    self.save_resume_point(context, None)
                # The bookmark is the last lead emitted: flushing it now saves the
                # next run from re-reading what this one already delivered.
                self._write_state_message()
                raise
        self.logger.info(progress.line(done=paginator.finished))

    def fetch_walk_page(
        self, walk: Walk, context: Context | None, cursor: str | None, *, first: bool
    ) -> requests.Response | None:
        """The walk's page at `cursor`; None when the budget stops the run here."""
        try:
            with GUARD.interruptible():
                return self.fetch_page(context, cursor, walk.page_params(cursor))
        except BudgetExhaustedError as exc:
            self.logger.warning(walk.stopped_early_line(exc, self.pacer.max_wait))
            if stuck := walk.stuck_line(self.current_bookmark(context)):
                self.logger.warning(stuck)
            return None
        except MegaRequestError as exc:
            if walk.start.cursor is not None and first:
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
                if (earliest := earliest_updated_at(leads[index:])) is not None:
                    self.move_bookmark_back(earliest, context)
                raise
            yield lead
            # The SDK has written the RECORD and moved the bookmark: a held
            # SIGTERM may stop the run here.
            GUARD.raise_if_pending()

    def save_resume_point(self, context: Context | None, point: dict[str, t.Any] | None) -> None:
        """Keep the cursor of the next page in the state; null when there is none.

        Null rather than absent, so a state store that merges the states of
        failed runs into the last good one cannot keep an old point alive.
        """
        if self.replication_method != REPLICATION_INCREMENTAL:
            return
        state = self.get_context_state(context)
        if state.get(RESUME_STATE_KEY) != point:
            state[RESUME_STATE_KEY] = point
            self.state_manager.is_flushed = False

    @override
    def _write_state_message(self) -> None:
        """Write STATE, except in a connection test (`--test`).

        A test is not a sync: it reads one lead to prove the connection, and
        `tap-mega --test | target` must move no bookmark.
        (The SDK's test suite's dry runs, with their own limit, still write STATE.)
        """
        if not self.connection_test:
            super()._write_state_message()

    @property
    @override
    def schema(self) -> dict[str, t.Any]:
        """The lead's schema with its custom fields declared; built once, on first use.

        A property, not the SDK's fixed schema, because custom fields differ per
        customer and learning them costs a request: `--about` never asks, and a
        sync given a catalog takes the schema from it (`effective_schema`).
        Assigning `declared_schema` replaces it: the SDK conforms each record to
        the schema as it stands (nothing here caches it per run).
        """
        return self.declared_schema

    @cached_property
    def declared_schema(self) -> dict[str, t.Any]:
        """`schema`, computed once per run (see `custom_field_declarations`)."""
        return lead_schema(self.custom_field_declarations())

    def custom_field_declarations(self) -> dict[str, dict[str, t.Any]]:
        """The setting's fields if given, else those of the sample; none without a sample.

        No sample when the leads carry no custom fields, when a catalog was given
        (the sync reads its schema, and an unselected stream needs none), or in
        `--test`, which is one request (`custom_fields` still carries every value).
        """
        explicit = self.settings.custom_fields_schema
        if explicit is not None:
            return explicit_custom_fields(explicit)
        if not self.settings.include_custom_fields or self.catalog_given or self.connection_test:
            return {}
        declared = sampled_custom_fields(self.sample_leads())
        self.logger.info(
            "Declared %d custom fields from the %d most recently updated leads: %s",
            len(declared),
            SAMPLE_PARAMS["limit"],
            ", ".join(declared) or "none",
        )
        return declared

    def sample_leads(self) -> list[dict[str, t.Any]]:
        """The 100 most recently updated leads: one request, through `fetch_page`.

        So the sample is paced, retried and fails with a sync's one-line errors;
        it moves no bookmark and writes nothing. A signal stops it at once.
        """
        with GUARD.interruptible():
            response = self.fetch_page(None, None, dict(SAMPLE_PARAMS))
        return self.read_page(response).leads
