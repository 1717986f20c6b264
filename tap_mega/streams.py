"""The leads stream and its schema."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.helpers._util import utc_now
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from tap_mega.client import MegaError, MegaRequestError, MegaResponseError, MegaStream
from tap_mega.lookback import incremental_start, parse_lookback
from tap_mega.pacer import BudgetExhaustedError, format_duration
from tap_mega.progress import PROGRESS_INTERVAL_SECONDS, Progress
from tap_mega.records import Shape, compile_shape, is_conformant
from tap_mega.resume import STATE_KEY as RESUME_STATE_KEY
from tap_mega.resume import ResumePoint, walk_fingerprint, why_not_resume
from tap_mega.resume import served_at as resume_served_at
from tap_mega.settings import is_blank
from tap_mega.termination import GUARD, Terminated
from tap_mega.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    normalize_timestamp,
    parse_timestamp,
)
from tap_mega.writer import LineWriter

if t.TYPE_CHECKING:
    import datetime as dt

    import requests
    from singer_sdk.helpers.types import Context

# Enumerated values are documented lists, not promises: plain strings, no `enum`.
STAGE = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("slug", th.StringType),
    th.Property("name", th.StringType),
    th.Property("color", th.StringType, nullable=True),
)
OWNER = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("name", th.StringType),
    th.Property("role_name", th.StringType, nullable=True),
)
CUSTOM_FIELD_VALUE = th.CustomType(
    {"type": ["string", "number", "boolean", "null"]},
)
LEAD_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("customer_id", th.StringType, required=True),
    th.Property("contact_name", th.StringType, nullable=True),
    th.Property("contact_phone", th.StringType, nullable=True),
    th.Property("contact_email", th.StringType, nullable=True),
    th.Property("source_platform", th.StringType, required=True),
    th.Property("source_type", th.StringType, required=True),
    th.Property("status", th.StringType, required=True),
    th.Property("score", th.IntegerType, nullable=True),
    th.Property("qualified", th.BooleanType, nullable=True),
    th.Property("current_stage", STAGE, nullable=True),
    th.Property("owner", OWNER, nullable=True),
    th.Property("last_interaction_at", th.DateTimeType, nullable=True),
    th.Property("interaction_count", th.IntegerType),
    th.Property("created_at", th.DateTimeType, required=True),
    th.Property("updated_at", th.DateTimeType, required=True),
    th.Property(
        "custom_fields",
        th.ObjectType(additional_properties=CUSTOM_FIELD_VALUE),
        nullable=True,
        description="Custom-field slug to scalar value; `lead_line` is reserved.",
    ),
).to_dict()

# Settings passed through as the API's own filters, with their names on the wire.
FILTER_PARAMS = {
    "status": "status",
    "stage_id": "stageId",
    "lead_line": "lead_line",
    "search": "search",
}


class SavedCursorRefusedError(MegaError):
    """MEGA answered 400 to the cursor a previous run saved (expired, say)."""


class WalkStart(t.NamedTuple):
    """Where a walk begins: its fixed `updated_since`, and a saved cursor to go on from."""

    since: dt.datetime | None
    #: None: the first page.
    cursor: str | None = None
    #: Leads earlier runs emitted in the walk this cursor belongs to.
    emitted: int = 0


class LeadsStream(MegaStream):
    """CRM leads, walked oldest change first so every page is a resumable checkpoint."""

    name = "leads"
    path = "/api/agents/crm/leads"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    schema = LEAD_SCHEMA
    # State is written after every page instead (see request_records).
    STATE_MSG_FREQUENCY = sys.maxsize
    #: Seconds between progress lines; tests shrink it.
    progress_interval_seconds: float = PROGRESS_INTERVAL_SECONDS

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Start with no walk under way."""
        super().__init__(*args, **kwargs)
        self._walk_since: dt.datetime | None = None
        #: `walk_fingerprint` of the current walk, fixed with its filters.
        self._walk_key = ""
        #: When the current page arrived: the extraction time of all its records.
        self.page_extracted_at = utc_now()

    def get_replication_key_signpost(self, context: Context | None = None) -> None:  # noqa: ARG002
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
        start_date = self.config.get("start_date")
        return incremental_start(
            parse_timestamp(bookmark) if bookmark else None,
            parse_timestamp(str(start_date)) if start_date else None,
            parse_lookback(self.config.get("lookback_window")),
        )

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
        `id`), never skips one. Order within the run is still checked, in
        `checked_updated_at`, which also made the value canonical: so the SDK's
        own increment (two more state look-ups and conversions) is not needed.
        """
        if self.replication_method != REPLICATION_INCREMENTAL:
            return  # as the SDK: a FULL_TABLE catalog keeps no bookmark
        state = self.get_context_state(context)
        value = latest_record[self.replication_key]
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
            msg = f"the state's bookmark for 'leads' is not a timestamp: {value!r}"
            raise MegaResponseError(msg) from exc
        state["replication_key_value"] = canonical
        return canonical

    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002 (the walk fixed its bound already)
        next_page_token: str | None,
    ) -> dict[str, t.Any]:
        """The documented incremental poll: updated_at ascending, same filters on every page."""
        params: dict[str, t.Any] = {
            "sort_by": "updated_at",
            "sort_dir": "asc",
            "limit": self.config.get("page_size", 100),
            "include_custom_fields": str(
                self.config.get("include_custom_fields", True)
            ).lower(),
        }
        for setting, wire_name in FILTER_PARAMS.items():
            if not is_blank(value := self.config.get(setting)):
                params[wire_name] = value
        if self._walk_since is not None:
            params["updated_since"] = format_timestamp(self._walk_since)
        if next_page_token:
            params["cursor"] = next_page_token
        return params

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Walk the pages, writing STATE after each one.

        Overridden because the SDK checkpoints every 10,000 records; here a crash
        loses at most one page, and an empty page is only the end when
        `next_cursor` says so.
        """
        try:
            yield from self.walk(context, self.walk_start(context))
        except SavedCursorRefusedError as exc:
            self.logger.warning(
                "MEGA refused the cursor the last run saved (%s); starting again "
                "lookback_window before the bookmark.",
                exc,
            )
            yield from self.walk(context, WalkStart(self.starting_instant(context)))

    def walk(self, context: Context | None, start: WalkStart) -> t.Iterator[dict[str, t.Any]]:
        """One walk through the pages, from the first or from a saved cursor."""
        # Fixed for the whole walk: MEGA wants the same filters on every cursor page,
        # while the bookmark it derives from moves with every page.
        self._walk_since = start.since
        self._walk_key = self.walk_fingerprint(context)
        incoming_bookmark = self.current_bookmark(context)
        paginator = self.get_new_paginator(start=start.cursor)
        send = self.request_decorator(self._request)
        progress = Progress(
            self.pacer,
            int(self.config.get("page_size", 100)),
            interval=self.progress_interval_seconds,
            already=start.emitted,
        )
        last_updated_at: str | None = None
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            try:
                while not paginator.finished:
                    prepared = self._prepare_request(context=context, page=paginator)
                    try:
                        with GUARD.interruptible():
                            response = send(prepared, context)
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
                    for lead in page.leads:
                        last_updated_at = self.checked_updated_at(
                            lead, last_updated_at, context
                        )
                        yield lead
                        # The SDK has written the RECORD and moved the bookmark:
                        # a held SIGTERM may stop the run here.
                        GUARD.raise_if_pending()
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

    def walk_fingerprint(self, context: Context | None) -> str:
        """What a saved cursor is only valid under (see `resume.walk_fingerprint`)."""
        start_date = self.config.get("start_date")
        return walk_fingerprint(
            self.get_url_params(context, None), str(start_date) if start_date else None
        )

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

    def _process_record(
        self,
        record: dict[str, t.Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Skip the SDK's per-record child-context work: leads have no children or partitions."""
        if self.child_streams or partition_context:
            super()._process_record(record, child_context, partition_context)

    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """Write a record that needs no SDK walk as it is; anything else the SDK's way.

        Overridden because selection, conformance and mapping cost more than the
        rest of a record's way to stdout; they are skipped only when every field
        is selected, no stream map is configured and `is_conformant` holds. Our
        own writer then gets the record without a message object per record.
        """
        if not (self.plain_records and is_conformant(record, self.lead_shape)):
            super()._write_record_message(record)
            return
        writer = self._tap.message_writer
        if isinstance(writer, LineWriter):
            writer.write_record(self.name, record, self._stream_version, self.page_extracted_at)
        else:  # source-mega's writer, say
            writer.write_message(
                RecordMessage(
                    stream=self.name,
                    record=record,
                    version=self._stream_version,
                    time_extracted=self.page_extracted_at,
                )
            )
        self.state_manager.is_flushed = False

    def current_bookmark(self, context: Context | None) -> str | None:
        """The bookmark as it stands now; None for a FULL_TABLE run, which keeps none."""
        if self.replication_method != REPLICATION_INCREMENTAL:
            return None
        return self.stream_state_bookmark(context)

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

    @cached_property
    def lead_shape(self) -> Shape:
        """The schema compiled for `is_conformant`."""
        return compile_shape(self.schema)

    @cached_property
    def plain_records(self) -> bool:
        """Every field selected and no stream map: records go out as they are."""
        maps = self.stream_maps
        return (
            all(self.mask.values())
            and len(maps) == 1
            and isinstance(maps[0], SameRecordTransform)
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == self.name
        )

    def checked_updated_at(
        self,
        lead: dict[str, t.Any],
        previous: str | None,
        context: Context | None = None,
    ) -> str:
        """Normalise a lead's `updated_at` in place, refusing leads we cannot bookmark.

        A lead older than the last one emitted is not emitted; the bookmark is
        moved back to it first, so the STATE flushed on the way out still points
        at or before every lead not delivered.
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
            self.move_bookmark_back(updated_at, context)
            msg = (
                f"MEGA returned lead {lead_id} out of order: updated_at {updated_at} "
                f"after {previous} in an ascending walk"
            )
            raise MegaResponseError(msg)
        lead["updated_at"] = updated_at
        return updated_at

    def move_bookmark_back(self, value: str, context: Context | None) -> None:
        """Lower the bookmark to `value` (never raise it): re-reading beats skipping."""
        state = self.get_context_state(context)
        current = state.get("replication_key_value")
        if current and value < str(current):
            state["replication_key_value"] = value
            self.state_manager.is_flushed = False
