"""The leads stream: the one owner of the bookmark and the walk, and the SDK's hooks.

Records take the SDK's own path to stdout. What one walk fixes and checks is in
walk.py, the schema in schema.py; the private SDK names used here are listed, with
why, in sdk_contract.py.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import typing as t
from functools import cached_property

from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from typing_extensions import override

from tap_mega.api.client import MegaStream
from tap_mega.budget.progress import PROGRESS_INTERVAL_SECONDS, Progress
from tap_mega.errors import MegaResponseError, SavedCursorRefusedError
from tap_mega.settings import FILTER_PARAMS
from tap_mega.state.inputs import ACCOUNT_KEY, account_of
from tap_mega.state.lookback import incremental_start
from tap_mega.state.mirror import STATE_KEY as MIRROR_STATE_KEY
from tap_mega.state.mirror import Mirror, now_utc
from tap_mega.state.resume import STATE_KEY as RESUME_STATE_KEY
from tap_mega.state.resume import ResumePoint, walk_fingerprint, why_not_resume
from tap_mega.streams.fields import Declarations
from tap_mega.streams.reconcile import (
    activate_pending,
    check_then_start_due_pass,
    check_within_budget,
    finish_pass,
    save_mirror,
    start_pass,
    write_schema,
)
from tap_mega.streams.schema import (
    SAMPLE_PARAMS,
    explicit_custom_fields,
    lead_schema,
    sampled_custom_fields,
)
from tap_mega.streams.walk import Walk, walk_pages
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

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap

#: Where the state remembers each custom field's declared type (fields.py).
FIELDS_STATE_KEY = "custom_fields"


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
        self.fields_declared = False  # each custom field's type, and the schema with them:
        self.declarations: Declarations | None = None
        self.sync_schema: dict[str, t.Any] | None = None

    @property
    @override
    def stream_maps(self) -> list[StreamMap]:
        """The mapper's current maps, a SCHEMA may change mid-stream; first, the declarations.

        The SDK first reads them for the sync's SCHEMA, after loading the state: that
        SCHEMA holds the remembered types, as no target changes a column's type.
        """
        if not self.fields_declared:
            self.fields_declared = True
            self.declare_custom_fields()
        return self.tap.mapper.stream_maps[self.name]

    @property
    @override
    def effective_schema(self) -> dict[str, t.Any]:
        """The sync's schema, custom fields as declared (fields.py); the SDK's before."""
        return self.sync_schema if self.sync_schema is not None else super().effective_schema

    def declare_custom_fields(self) -> None:
        """The selected custom fields (the schema the SDK registered), the state's types winning."""
        base = self.tap.mapper.stream_maps[self.name][0].raw_schema
        custom = base.get("properties", {}).get("custom_fields")
        if isinstance(custom, dict) and not self.connection_test:  # else deselected, or no sync
            remembered = self.get_context_state(None).get(FIELDS_STATE_KEY)
            declared = custom.get("properties", {})
            self.declarations, lines = Declarations.start(declared, remembered, self.mask)
            for line in lines:
                self.logger.warning(line)
            self.declare(self.declarations, base)

    def declare(self, declarations: Declarations, base: dict[str, t.Any]) -> None:
        """Make the declarations the sync's schema, and remember them in the state."""
        schema = copy.deepcopy(base)
        schema["properties"]["custom_fields"]["properties"] = declarations.properties()
        self.sync_schema = schema
        self.tap.mapper.register_raw_stream_schema(self.name, schema, self.primary_keys)
        self.set_state(None, FIELDS_STATE_KEY, dict(declarations.types))

    def fit_custom_fields(self, lead: dict[str, t.Any]) -> None:
        """Fit the lead's custom fields to their types; a new one is declared before it goes."""
        if self.declarations is None or self.sync_schema is None:
            return
        for line in (new := self.declarations.fit(lead)):
            self.logger.info(line)
        if new:
            self.declare(self.declarations, self.sync_schema)
            write_schema(self)

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """None: MEGA's clock stamps `updated_at`, so ours must not cap the bookmark."""
        return

    def starting_instant(self, context: Context | None) -> dt.datetime | None:
        """The bookmark minus `lookback_window`, never before `start_date`; None: everything."""
        bookmark = self.stream_state_bookmark(context)
        mark = parse_timestamp(bookmark) if bookmark else None
        return incremental_start(mark, self.settings.start, self.settings.lookback)

    def incremental_since(self, context: Context | None) -> str | None:
        """`starting_instant` as a walk's `updated_since`."""
        start = self.starting_instant(context)
        return None if start is None else format_timestamp(start)

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
        """The incremental walk; with `reconcile_deletes`, the mirror's check and pass too."""
        incremental = self.replication_method == REPLICATION_INCREMENTAL
        if incremental:
            self.set_state(context, ACCOUNT_KEY, account_of(self.config))  # see state/inputs.py
        mirror = Mirror.from_state(self.get_context_state(context).get(MIRROR_STATE_KEY))
        if incremental and self.settings.reconcile_deletes and not self.connection_test:
            yield from self.mirrored_records(mirror, context)
            return
        if incremental and (mirror.pass_ or mirror.activate):  # leads go out without versions
            save_mirror(self, mirror.drop_pass(), context)
        yield from self.incremental_walk(context)

    def mirrored_records(
        self, mirror: Mirror, context: Context | None
    ) -> Generator[dict[str, t.Any], None, None]:
        """A mirror's run: a baseline count if none, the walk, then the check and a due pass.

        A pass is checked at its end only; caught up with the bookmark, it rides the walk.
        """
        activate_pending(self, mirror, context)  # a pass the last run completed
        whole = self.walk_id(context)
        if mirror.pass_ is not None and mirror.pass_.walk != whole:
            self.logger.info("Starting the reconcile pass again: the filters changed since.")
            mirror.drop_pass()
        baseless = mirror.check is None or mirror.check.walk != whole  # count before any RECORD
        if baseless and not check_within_budget(self, mirror, whole, context):
            return
        bookmark, frontier = self.stream_state_bookmark(context), self.incremental_since(context)
        if mirror.pass_ is None and bookmark is None:
            start_pass(self, mirror, whole, "a first sync reads every lead", context)
        riding = mirror.pass_ is not None and (
            bookmark is None or (mirror.pass_.position or "") >= (frontier or "")
        )
        self._stream_version = mirror.run_version(now_utc())
        if not (yield from self.incremental_walk(context, mirror=mirror if riding else None)):
            return  # stopped early: the next run finishes the walk first
        if riding:
            finish_pass(self, mirror, whole, context)
            return
        if mirror.pass_ is None and not check_then_start_due_pass(self, mirror, whole, context):
            return
        if (yield from self.run_pass(mirror, context)):
            finish_pass(self, mirror, whole, context)

    def run_pass(
        self, mirror: Mirror, context: Context | None
    ) -> Generator[dict[str, t.Any], None, bool]:
        """The pass's walk from its cursor, else its position; True when it read every lead.

        Behind the bookmark, so a lead updated since has moved ahead of both: none is missed.
        """
        under_way = mirror.pass_
        if under_way is None:
            return True
        self._stream_version = under_way.version
        since = under_way.position or self.settings.start_date
        point = under_way.resume_point
        if under_way.emitted:
            self.logger.info(
                "Resuming the reconcile pass (version %d): %s leads read in earlier runs.",
                under_way.version,
                f"{under_way.emitted:,}",
            )

        earlier = 0 if point else under_way.emitted  # a cursor's point counts them itself

        def save(walk: Walk, point: ResumePoint | None) -> None:
            under_way.position = walk.last_updated_at or under_way.position
            under_way.emitted = earlier + walk.progress.leads
            under_way.resume_from = None if point is None else dataclasses.asdict(point)
            save_mirror(self, mirror, context)

        try:
            return (yield from self.walk(context, point, since, save, pass_behind=True))
        except SavedCursorRefusedError:
            since = under_way.position or since
            return (yield from self.walk(context, None, since, save, pass_behind=True))

    def incremental_walk(
        self, context: Context | None, *, mirror: Mirror | None = None
    ) -> Generator[dict[str, t.Any], None, bool]:
        """From the saved cursor or the bookmark; a refused cursor falls back to the bookmark.

        `mirror`: its pass rides this walk, its position following the walk's.
        """
        incremental = self.replication_method == REPLICATION_INCREMENTAL
        point = self.saved_resume_point(context) if incremental else None

        def save(walk: Walk, point: ResumePoint | None) -> None:
            self.save_resume_point(context, point)
            if mirror is not None and mirror.pass_ is not None and walk.last_updated_at:
                mirror.pass_.position = max(mirror.pass_.position or "", walk.last_updated_at)
                save_mirror(self, mirror, context)

        try:
            return (yield from self.walk(context, point, self.incremental_since(context), save))
        except SavedCursorRefusedError as exc:
            self.logger.warning(
                "MEGA refused the cursor the last run saved (%s); starting again "
                "lookback_window before the bookmark.",
                exc,
            )
            return (yield from self.walk(context, None, self.incremental_since(context), save))

    def walk_id(self, context: Context | None) -> str:
        """What a cursor, a pass and a check are only valid under (resume.walk_fingerprint)."""
        return walk_fingerprint(self.get_url_params(context, None), self.settings.start_date)

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
        lookback = self.settings.lookback
        reason = why_not_resume(
            point, bookmark=bookmark, lookback=lookback, walk=self.walk_id(context)
        )
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
        self,
        context: Context | None,
        point: ResumePoint | None,
        since: str | None,
        save: t.Callable[[Walk, ResumePoint | None], None],
        *,
        pass_behind: bool = False,
    ) -> Generator[dict[str, t.Any], None, bool]:
        """A walk from `since` or a saved point, `save` after each page; True if it read all.

        `pass_behind`: a reconcile pass behind the bookmark, which it never moves back.
        """
        params = self.get_url_params(context, None)
        since = point.updated_since if point else since
        params.update({} if since is None else {"updated_since": since})
        label, interval = (
            ("Reconcile pass" if pass_behind else "Progress"),
            self.progress_interval_seconds,
        )
        already = point.emitted if point else 0
        progress = Progress(
            self.pacer, params["limit"], interval=interval, already=already, label=label
        )
        fingerprint = walk_fingerprint(params, self.settings.start_date)  # not updated_since
        bookmark = self.stream_state_bookmark(context)
        walk = Walk(point, params, fingerprint, progress, bookmark, moves_bookmark=not pass_behind)
        return (yield from walk_pages(walk, self, context, save, fit=self.fit_custom_fields))

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
