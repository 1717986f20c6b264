"""What `spec`, `discover`, `check` and `read` do, on the same TapMega a Singer run uses."""

from __future__ import annotations

import copy
import typing as t

from singer_sdk.singerlib import Catalog

from tap_mega.airbyte.inputs import FULL_REFRESH
from tap_mega.airbyte.messages import AirbyteWriter, Output
from tap_mega.cli import checks as settings
from tap_mega.errors import CONFIG_FAILURES
from tap_mega.tap import TapMega

if t.TYPE_CHECKING:
    from tap_mega.api.client import MegaStream

Json = dict[str, t.Any]
INCREMENTAL = "incremental"
#: Where source-mega's defaults differ from tap-mega's. Reconcile checks and passes
#: spend the account's budget to end in ACTIVATE_VERSION, which Airbyte has no
#: message for: no destination would retire a row (see messages.translate).
AIRBYTE_DEFAULTS: Json = {"reconcile_deletes": False}
AIRBYTE_NOTES = {
    "reconcile_deletes": " source-mega: false unless set, as Airbyte has no ACTIVATE_VERSION "
    "and retires no row; a full refresh (overwrite) or a refresh sync drops deleted leads.",
}


def with_airbyte_defaults(config: Json) -> Json:
    """The connector's settings, source-mega's defaults filling what they leave out."""
    return {**AIRBYTE_DEFAULTS, **config}


def connection_specification() -> Json:
    """The tap's settings schema, secrets flagged the way Airbyte's UI masks them."""
    schema = copy.deepcopy(TapMega.config_jsonschema)
    schema.setdefault("$schema", "http://json-schema.org/draft-07/schema#")
    schema["title"] = "MEGA Spec"
    for name in settings.SECRET_SETTINGS:
        schema["properties"][name]["airbyte_secret"] = True
    for name, default in AIRBYTE_DEFAULTS.items():
        schema["properties"][name]["default"] = default
        schema["properties"][name]["description"] += AIRBYTE_NOTES[name]
    return schema


def spec_message() -> Json:
    """The SPEC message."""
    return {
        "type": "SPEC",
        "spec": {
            "documentationUrl": "https://pypi.org/project/tap-mega/",
            "connectionSpecification": connection_specification(),
            "supportsIncremental": True,
        },
    }


def make_tap(config: Json, **kwargs: t.Any) -> TapMega:
    """The tap, configured only by Airbyte's file (no environment variables)."""
    return TapMega(config=config, parse_env_config=False, **kwargs)


def airbyte_stream(tap: TapMega, name: str) -> Json:
    """One stream of the Airbyte catalog, described by the SDK stream itself."""
    stream = tap.streams[name]
    entry: Json = {
        "name": stream.name,
        "json_schema": stream.schema,
        "supported_sync_modes": [FULL_REFRESH],
        "source_defined_primary_key": [[key] for key in stream.primary_keys or ()],
    }
    if stream.replication_key:
        entry["supported_sync_modes"].append(INCREMENTAL)
        entry["source_defined_cursor"] = True
        entry["default_cursor_field"] = [stream.replication_key]
    return entry


def catalog_message(tap: TapMega) -> Json:
    """The CATALOG message."""
    return {
        "type": "CATALOG",
        "catalog": {"streams": [airbyte_stream(tap, name) for name in tap.streams]},
    }


def check_connection(tap: TapMega) -> None:
    """One request for one lead: proves URL, token, customer and scope in one go.

    Same request path as a sync (auth, retries, rate-limit waits, body checks),
    so a check that succeeds means the first page of a sync would too.
    """
    stream = t.cast("MegaStream", tap.streams["leads"])
    stream.fetch_page(context=None, cursor=None)


def singer_catalog(
    tap: TapMega,
    modes: dict[str, str],
    fields: dict[str, frozenset[str] | None],
) -> Catalog:
    """The tap's catalog with exactly the streams and top-level fields Airbyte configured.

    The SDK keeps the primary key and the replication key whatever the selection:
    every record carries `id` and the `updated_at` its bookmark is read from.
    """
    catalog = Catalog.from_dict(tap.catalog_dict)
    for name, entry in catalog.items():
        entry.metadata.root.selected = name in modes
        wanted = fields.get(name)
        if wanted is None:
            continue
        for field in entry.schema.properties or {}:
            entry.metadata[("properties", field)].selected = field in wanted
    return catalog


def read(
    config: Json,
    modes: dict[str, str],
    fields: dict[str, frozenset[str] | None],
    state: Json,
    output: Output,
) -> None:
    """Run the tap's sync; a full refresh starts without the stream's bookmark."""
    bookmarks = {
        name: bookmark
        for name, bookmark in state.get("bookmarks", {}).items()
        if modes.get(name) == INCREMENTAL
    }
    sampleless = make_tap(settings.without_sample(config), validate_config=False)
    catalog = singer_catalog(sampleless, modes, fields)
    tap = make_tap(
        config,
        catalog=catalog,
        state={"bookmarks": bookmarks} if bookmarks else {},
        message_writer=AirbyteWriter(output),
    )
    tap.sync_all()


def failure_type(exc: BaseException) -> str:
    """Whose move it is: the user's settings (`config_error`) or anything else."""
    return "config_error" if isinstance(exc, CONFIG_FAILURES) else "system_error"
