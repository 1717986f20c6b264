"""tap-mega: the settings schema and the stream list."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th
from typing_extensions import override

from tap_mega.cli.plugin import MegaTap
from tap_mega.settings import DEFAULT_RECONCILE_INTERVAL, Settings
from tap_mega.state.lookback import DEFAULT_LOOKBACK_SECONDS
from tap_mega.streams.leads import LeadsStream
from tap_mega.streams.schema import EXPLICIT_TYPES

if t.TYPE_CHECKING:
    from singer_sdk import Stream


class TapMega(MegaTap):
    """Singer tap for MEGA (gomega.ai) CRM leads."""

    name = "tap-mega"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "token",
            th.StringType(min_length=1),
            required=True,
            secret=True,
            title="Token",
            description="MEGA personal access token (`mega_...`) with the "
            "public_api:leads:read scope.",
        ),
        th.Property(
            "customer_id",
            th.StringType,
            required=True,
            title="Customer ID",
            description="Customer UUID, sent as `x-customer-id`; must be the token's.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=Settings.api_url,
            title="API URL",
            description="Base URL of the MEGA API; https, or http to a loopback "
            "address (the bundled emulator).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="Earliest `updated_at` to extract (ISO-8601). Default: everything.",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=100),
            default=Settings.page_size,
            title="Page size",
            description="Leads per request, 1 to 100. Keep 100: the request budget "
            "is the scarce resource.",
        ),
        th.Property(
            "include_custom_fields",
            th.BooleanType,
            default=Settings.include_custom_fields,
            title="Include custom fields",
            description="Ask for and emit each lead's `custom_fields` object.",
        ),
        th.Property(
            "custom_fields_schema",
            th.ObjectType(
                additional_properties=th.StringType(allowed_values=list(EXPLICIT_TYPES)),
            ),
            title="Custom fields schema",
            description="Custom-field slug to type (string, integer, number, boolean, "
            "or any: a text column): declares exactly these fields instead of "
            "discovering them from the 100 most recently updated leads.",
        ),
        th.Property(
            "status",
            th.StringType,
            # Refused before any request when not documented: see README, "Filters".
            allowed_values=["active", "won", "lost", "nurture", "archived"],
            title="Status filter",
            description="Only leads with this status (active, won, lost, nurture, archived).",
        ),
        th.Property(
            "stage_id",
            th.StringType,
            title="Stage filter",
            description="Only leads in this pipeline stage (UUID; `stageId` on the wire).",
        ),
        th.Property(
            "lead_line",
            th.StringType,
            allowed_values=["buyer", "seller"],
            title="Lead line filter",
            description="Only buyer or seller leads.",
        ),
        th.Property(
            "search",
            th.StringType,
            title="Search filter",
            description="Free text over name, email and phone.",
        ),
        th.Property(
            "lookback_window",
            th.CustomType({"type": ["string", "number"]}),
            default=DEFAULT_LOOKBACK_SECONDS,
            title="Lookback window",
            description="How far before the bookmark each incremental run starts "
            "(seconds, or an ISO-8601 duration such as PT5M), to catch changes "
            "committed late with an earlier `updated_at`. 0 turns it off.",
        ),
        th.Property(
            "request_timeout",
            th.NumberType(exclusive_minimum=0),
            default=Settings.request_timeout,
            title="Request timeout",
            description="Seconds to wait for each response before retrying.",
        ),
        th.Property(
            "max_wait_seconds",
            th.NumberType(minimum=0),
            default=Settings.max_wait_seconds,
            title="Longest rate-limit wait",
            description="The longest single wait for MEGA's request budget the tap "
            "accepts; a longer one ends the run cleanly with its state saved, and the "
            "next run resumes. The default covers a full hourly window.",
        ),
        th.Property(
            "rate_limit_reserve",
            th.IntegerType(minimum=0),
            default=Settings.rate_limit_reserve,
            title="Rate-limit reserve",
            description="Requests per rate window the tap leaves unused for the "
            "customer's other integrations on the same token.",
        ),
        th.Property(
            "reconcile_deletes",
            th.BooleanType,
            default=Settings.reconcile_deletes,
            title="Reconcile deletes",
            description="Retire leads deleted in MEGA: after its walk, a run counts "
            "whether leads vanished (2 requests); when they did, and every "
            "reconcile_interval, a full pass sends every lead under a new version, then "
            "ACTIVATE_VERSION, for the target to retire the rows that version did not carry. "
            "False: no count, no pass.",
        ),
        th.Property(
            "reconcile_interval",
            th.CustomType({"type": ["string", "number"]}),
            default=DEFAULT_RECONCILE_INTERVAL,
            title="Reconcile interval",
            description="The longest time between full reconcile passes (an ISO-8601 "
            "duration such as P7D, or seconds), even when no lead is seen vanishing.",
        ),
    ).to_dict()

    @override
    def discover_streams(self) -> list[Stream]:
        """The one stream MEGA exposes for reading, told what kind of run this is."""
        given = self.input_catalog is not None
        return [LeadsStream(self, connection_test=self.connection_test, catalog_given=given)]
