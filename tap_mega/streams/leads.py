"""The leads stream: its schema, its filters, its bookmark, and the SDK's hooks.

How its pages are walked is walk.py's; how its records reach stdout fast is
records.py's and writer.py's; what its custom fields are declared as is
schema.py's, from the one sample request made here. What this class overrides
privately is listed, with why, in sdk_contract.py.
"""

from __future__ import annotations

import contextlib
import sys
import typing as t
from functools import cached_property

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from typing_extensions import override

from tap_mega.api.client import CONNECTION_TEST
from tap_mega.cli.checks import is_blank
from tap_mega.errors import MegaResponseError, SavedCursorRefusedError
from tap_mega.state.inputs import ACCOUNT_KEY, account_of
from tap_mega.state.lookback import incremental_start, parse_lookback
from tap_mega.state.resume import walk_fingerprint
from tap_mega.streams.records import Shape, compile_shape, is_conformant, is_plain
from tap_mega.streams.schema import explicit_custom_fields, lead_schema, sampled_custom_fields
from tap_mega.streams.walk import WalkingStream, WalkStart
from tap_mega.streams.writer import write_record
from tap_mega.termination import GUARD
from tap_mega.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    normalize_timestamp,
    parse_timestamp,
)

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Generator

    from singer_sdk.helpers.types import Context

# Settings passed through as the API's own filters, with their names on the wire.
FILTER_PARAMS = {
    "status": "status",
    "stage_id": "stageId",
    "lead_line": "lead_line",
    "search": "search",
}
#: Discovery's one request: the 100 most recently updated leads, with custom fields.
#: No filters: the catalog describes the account, whatever a sync filters on.
SAMPLE_PARAMS: dict[str, t.Any] = {
    "sort_by": "updated_at",
    "sort_dir": "desc",
    "limit": 100,
    "include_custom_fields": "true",
}


class LeadsStream(WalkingStream):
    """CRM leads, walked oldest change first so every page is a resumable checkpoint."""

    name = "leads"
    path = "/api/agents/crm/leads"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    #: True only while discovery's sample request is prepared (see `sample_leads`).
    sampling = False
    # State is written after every page instead (see request_records).
    STATE_MSG_FREQUENCY = sys.maxsize

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: a sorted stream's bookmark is always a value we emitted.

        MEGA's clock, not ours, stamps `updated_at`; capping at our clock could
        move the bookmark behind leads already emitted.
        """
        return

    @override
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
        `id`), never skips one. Order within the run is still checked, in
        `checked_updated_at`, which also gave the value's canonical spelling
        (the record keeps MEGA's): so the SDK's own increment (two more state
        look-ups and conversions) is not needed.
        """
        if self.replication_method != REPLICATION_INCREMENTAL:
            return  # as the SDK: a FULL_TABLE catalog keeps no bookmark
        state = self.get_context_state(context)
        checked = self.bookmark_value
        value = (
            checked[1]
            if checked is not None and checked[0] is latest_record
            else normalize_timestamp(latest_record[self.replication_key])
        )
        bookmark = state.get("replication_key_value")
        if bookmark and value < bookmark:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value

    @override
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

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: str | None,
    ) -> dict[str, t.Any]:
        """The documented incremental poll: updated_at ascending, same filters on every page."""
        if self.sampling:
            return dict(SAMPLE_PARAMS)
        params: dict[str, t.Any] = {
            "sort_by": "updated_at",
            "sort_dir": "asc",
            "limit": self.page_limit,
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

    @override
    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Walk the pages, writing STATE after each one.

        Overridden because the SDK checkpoints every 10,000 records; here a crash
        loses at most one page, and an empty page is only the end when
        `next_cursor` says so.
        """
        if self.dry_run_limit is not None:
            yield from self.dry_run(context)
            return
        if self.replication_method == REPLICATION_INCREMENTAL:
            self.record_account(context)
        try:
            yield from self.walk(context, self.walk_start(context))
        except SavedCursorRefusedError as exc:
            self.logger.warning(
                "MEGA refused the cursor the last run saved (%s); starting again "
                "lookback_window before the bookmark.",
                exc,
            )
            yield from self.walk(context, WalkStart(self.starting_instant(context)))

    @property
    def dry_run_limit(self) -> int | None:
        """Leads a dry run (`tap-mega --test`) asks for; None in a real sync.

        The SDK's `ABORT_AT_RECORD_COUNT`, which it sets for `--test` and for
        its own test suite's dry runs.
        """
        return self.ABORT_AT_RECORD_COUNT

    @property
    @override
    def page_limit(self) -> int:
        """Leads per request: `page_size`, or no more than a dry run wants."""
        page_size = int(self.config.get("page_size", 100))
        limit = self.dry_run_limit
        return page_size if limit is None else max(1, min(page_size, limit))

    def dry_run(self, context: Context | None) -> t.Iterator[dict[str, t.Any]]:
        """The first `dry_run_limit` leads (`--test`: one request for one), then a clean end.

        The SDK's own dry run reads one record more only to abort on it, which
        it logs as an ERROR with a failed sync metric.
        """
        limit = self.dry_run_limit or 1
        walk = t.cast(
            "Generator[dict[str, t.Any], None, None]",
            self.walk(context, WalkStart(self.starting_instant(context))),
        )
        with contextlib.closing(walk):
            try:
                for count, lead in enumerate(walk, start=1):
                    yield lead
                    if count >= limit:
                        return
            finally:
                self.write_held_records()  # no STATE comes to write them

    @override
    def _write_state_message(self) -> None:
        """Write STATE, except in a connection test (`--test`).

        A test is not a sync: it reads one lead to prove the connection, and
        `tap-mega --test | target` must move no bookmark.
        (The SDK's test suite's dry runs, with their own limit, still write STATE.)
        """
        if not CONNECTION_TEST.get():
            super()._write_state_message()

    def record_account(self, context: Context | None) -> None:
        """Name the account in the bookmark, so no other account's run can use it (state.py)."""
        state = self.get_context_state(context)
        account = account_of(self.config)
        if state.get(ACCOUNT_KEY) != account:
            state[ACCOUNT_KEY] = account
            self.state_manager.is_flushed = False

    @override
    def _process_record(
        self,
        record: dict[str, t.Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Skip the SDK's per-record child-context work: leads have no children or partitions."""
        if self.child_streams or partition_context:
            super()._process_record(record, child_context, partition_context)

    @override
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
        write_record(
            self._tap.message_writer,
            self.name,
            record,
            self._stream_version,
            self.page_extracted_at,
        )
        self.state_manager.is_flushed = False

    @override
    def current_bookmark(self, context: Context | None) -> str | None:
        """The bookmark as it stands now; None for a FULL_TABLE run, which keeps none."""
        if self.replication_method != REPLICATION_INCREMENTAL:
            return None
        return self.stream_state_bookmark(context)

    @cached_property
    def lead_shape(self) -> Shape:
        """The schema the SDK conforms records to (the catalog's, if given), compiled."""
        return compile_shape(self.effective_schema)

    @property
    @override
    def schema(self) -> dict[str, t.Any]:
        """The lead's schema with its custom fields declared; built once, on first use.

        A property, not the SDK's fixed schema, because custom fields differ per
        customer and learning them costs a request: `--about` never asks, and a
        sync given a catalog takes the schema from it (`effective_schema`).
        """
        return self.declared_schema

    @cached_property
    def declared_schema(self) -> dict[str, t.Any]:
        """`schema`, computed once per run (see `custom_field_declarations`)."""
        return lead_schema(self.custom_field_declarations())

    def custom_field_declarations(self) -> dict[str, dict[str, t.Any]]:
        """The setting's fields if given, else those of the sample; none without a sample.

        No sample when the leads carry no custom fields, or when a catalog was
        given (the sync reads its schema, and an unselected stream needs none).
        """
        explicit = self.config.get("custom_fields_schema")
        if explicit is not None:
            return explicit_custom_fields(explicit)
        if not self.config.get("include_custom_fields", True):
            return {}
        if self._tap.input_catalog is not None:
            return {}
        if CONNECTION_TEST.get():
            return {}  # `--test` is one request; `custom_fields` still carries every value
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
        self.sampling = True
        try:
            with GUARD.interruptible():
                response = self.fetch_page(None, None)
        finally:
            self.sampling = False
        return self.read_page(response).leads

    @cached_property
    def plain_records(self) -> bool:
        """Every field selected and no stream map: records go out as they are."""
        return is_plain(self.stream_maps, self.mask, self.name)

    @override
    def walk_fingerprint(self, context: Context | None) -> str:
        """What a saved cursor is only valid under (see `resume.walk_fingerprint`)."""
        start_date = self.config.get("start_date")
        return walk_fingerprint(
            self.get_url_params(context, None), str(start_date) if start_date else None
        )

    @override
    def move_bookmark_back(self, value: str, context: Context | None) -> None:
        """Lower the bookmark to `value` (never raise it): re-reading beats skipping."""
        state = self.get_context_state(context)
        current = state.get("replication_key_value")
        if current and value < str(current):
            state["replication_key_value"] = value
            self.state_manager.is_flushed = False
