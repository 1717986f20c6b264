"""tap-mega: the settings schema and the stream list."""

from __future__ import annotations

import copy
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.plugin_base import PluginBase
from typing_extensions import override

from tap_mega import settings
from tap_mega.errors import SettingsError
from tap_mega.lookback import DEFAULT_LOOKBACK_SECONDS
from tap_mega.redaction import register_secret
from tap_mega.streams import LeadsStream
from tap_mega.termination import GUARD
from tap_mega.writer import LineWriter

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk import Stream


class NumbersFromEnv:
    """The SDK's `_env_var_config` class property, with number settings parsed too.

    A descriptor of our own: the SDK's `classproperty` lives in a private module.
    Read on the class (the CLI) or an instance (the tap), it sees the class.
    """

    def __get__(self, instance: object, owner: type[Tap]) -> dict[str, t.Any]:
        """The environment's settings, as the SDK reads them, then numbers parsed."""
        sdk_env_config = vars(PluginBase)["_env_var_config"].__get__(None, owner)
        return settings.numbers_from_env(sdk_env_config, owner.config_jsonschema)


class TapMega(Tap):
    """Singer tap for MEGA (gomega.ai) CRM leads."""

    name = "tap-mega"
    #: The SDK's writer flushes stdout after every record (see writer.py).
    message_writer_class = LineWriter

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
            default="https://app.gomega.ai",
            title="API URL",
            description="Base URL of the MEGA API; https, or http to a loopback "
            "address (the bundled emulator).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="Earliest `updated_at` to extract (ISO-8601). "
            "Default: everything.",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=100),
            default=100,
            title="Page size",
            description="Leads per request, 1 to 100. Keep 100: the request budget "
            "is the scarce resource.",
        ),
        th.Property(
            "include_custom_fields",
            th.BooleanType,
            default=True,
            title="Include custom fields",
            description="Ask for and emit each lead's `custom_fields` object.",
        ),
        th.Property(
            "status",
            th.StringType,
            title="Status filter",
            description="Only leads with this status (active, won, lost, nurture, "
            "archived).",
        ),
        th.Property(
            "stage_id",
            th.StringType,
            title="Stage filter",
            description="Only leads in this pipeline stage (UUID; `stageId` on the "
            "wire).",
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
            default=60,
            title="Request timeout",
            description="Seconds to wait for each response before retrying.",
        ),
        th.Property(
            "max_wait_seconds",
            th.NumberType(minimum=0),
            default=3600,
            title="Longest rate-limit wait",
            description="The longest single wait for MEGA's request budget the tap "
            "accepts; a longer one ends the run cleanly with its state saved, and the "
            "next run resumes. The default covers a full hourly window.",
        ),
        th.Property(
            "rate_limit_reserve",
            th.IntegerType(minimum=0),
            default=0,
            title="Rate-limit reserve",
            description="Requests per rate window the tap leaves unused for the "
            "customer's other integrations on the same token.",
        ),
    ).to_dict()

    #: Private in the SDK (see sdk_contract.py): no public hook reads the environment.
    _env_var_config = NumbersFromEnv()

    @override
    def discover_streams(self) -> list[Stream]:
        """The one stream MEGA exposes for reading."""
        return [LeadsStream(self)]

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Check settings before any request, one line per problem naming the setting."""
        register_secret(self.config.get("token"))
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)
        problems = settings.find_problems(self.config, schema)
        if problems and raise_errors:
            raise SettingsError(problems)
        for name in settings.unknown_settings(self.config, schema):
            self.logger.warning("Ignoring unknown setting `%s`: no such setting", name)
        return problems

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at a safe point and exit non-zero (the SDK exits 0); see termination.py."""
        GUARD.handle(signum)
