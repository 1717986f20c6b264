"""The leads stream: its schema, its filters, its bookmark, and the SDK's hooks.

How its pages are walked is walk.py's; how its records reach stdout fast is
records.py's and writer.py's. What this class overrides privately is listed,
with why, in sdk_contract.py.
"""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from typing_extensions import override

from tap_mega.errors import MegaResponseError, SavedCursorRefusedError
from tap_mega.lookback import incremental_start, parse_lookback
from tap_mega.records import Shape, compile_shape, is_conformant, is_plain
from tap_mega.resume import walk_fingerprint
from tap_mega.schema import LEAD_SCHEMA
from tap_mega.settings import is_blank
from tap_mega.timestamps import (
    InvalidTimestampError,
    format_timestamp,
    normalize_timestamp,
    parse_timestamp,
)
from tap_mega.walk import WalkingStream, WalkStart
from tap_mega.writer import write_record

if t.TYPE_CHECKING:
    import datetime as dt

    from singer_sdk.helpers.types import Context

# Settings passed through as the API's own filters, with their names on the wire.
FILTER_PARAMS = {
    "status": "status",
    "stage_id": "stageId",
    "lead_line": "lead_line",
    "search": "search",
}


class LeadsStream(WalkingStream):
    """CRM leads, walked oldest change first so every page is a resumable checkpoint."""

    name = "leads"
    path = "/api/agents/crm/leads"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    schema = LEAD_SCHEMA
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

    @override
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
        """The schema compiled for `is_conformant`."""
        return compile_shape(self.schema)

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
