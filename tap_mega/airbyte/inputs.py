"""Airbyte's input files (--config, --catalog, --state), read into what the tap takes.

Every problem is an InputError of one line naming the file, never echoing its content.
"""

from __future__ import annotations

import typing as t

from tap_mega.cli.files import json_kind, read_json
from tap_mega.errors import InputError
from tap_mega.state import inputs as state

Json = dict[str, t.Any]
FULL_REFRESH = "full_refresh"


def read_config(path: str) -> Json:
    """The connector's settings, as Airbyte wrote them."""
    config = read_json(path, "config")
    if not isinstance(config, dict):
        msg = "invalid settings: the config must be a JSON object"
        raise InputError(msg)
    return config


AIRBYTE_SHAPES = (
    'a list of per-stream states [{"type": "STREAM", "stream": {"stream_descriptor": '
    '..., "stream_state": ...}}], or a legacy state {"bookmarks": ...} or {"data": ...}'
)


def singer_state(airbyte_state: t.Any, source: str = "the state") -> Json:
    """The tap's state from Airbyte's: per-stream states, or a legacy object.

    Airbyte sends a list of per-stream states (possibly `[]`); older platforms
    send one legacy object, which for this source is the tap's own state.
    Anything else is refused in one line naming `source`: read as "no state",
    it would silently re-read everything.
    """
    if airbyte_state is None or airbyte_state in ([], {}):
        return {}
    if isinstance(airbyte_state, dict):
        if airbyte_state.get("type") in {"STREAM", "LEGACY", "GLOBAL"}:
            return singer_state([airbyte_state], source)  # one state message on its own
        legacy = airbyte_state.get("data", airbyte_state)
        if isinstance(legacy, dict) and "bookmarks" in legacy:
            return state.singer_state(legacy, source)
        refuse(source, "an object without `bookmarks` or `data`")
    if not isinstance(airbyte_state, list):
        refuse(source, json_kind(airbyte_state))
    if not all(isinstance(entry, dict) for entry in airbyte_state):
        refuse(source, "a list of per-stream states must hold JSON objects only")
    for entry in airbyte_state:
        if entry.get("type") == "LEGACY":
            return singer_state(entry.get("data"), source)
    bookmarks = dict(per_stream_bookmark(entry, source) for entry in airbyte_state)
    bookmarks = {name: value for name, value in bookmarks.items() if value}
    return state.singer_state({"bookmarks": bookmarks}, source) if bookmarks else {}


def per_stream_bookmark(entry: Json, source: str) -> tuple[str, Json | None]:
    """One per-stream state: the stream's name and its state (the tap's bookmark)."""
    stream = entry.get("stream")
    if entry.get("type") not in {None, "STREAM"} or not isinstance(stream, dict):
        refuse(source, f"a {entry.get('type') or 'state'} entry without a per-stream state")
    descriptor = stream.get("stream_descriptor")
    name = descriptor.get("name") if isinstance(descriptor, dict) else None
    stream_state = stream.get("stream_state")
    if not isinstance(name, str) or not isinstance(stream_state, (dict, type(None))):
        refuse(source, "a per-stream state without a stream name and an object state")
    return name, stream_state


def refuse(source: str, problem: str) -> t.NoReturn:
    """Stop with one line: what is wrong, and the shapes source-mega reads."""
    msg = (
        f"{source} is not an Airbyte state source-mega can read ({problem}); "
        f"it accepts {AIRBYTE_SHAPES}"
    )
    raise InputError(msg)


def sync_modes(configured_catalog: t.Any) -> dict[str, str]:
    """Stream name to the sync mode Airbyte asks for."""
    streams = configured_catalog.get("streams") if isinstance(configured_catalog, dict) else None
    if not isinstance(streams, list):
        msg = "the catalog must be a configured catalog with a `streams` list"
        raise InputError(msg)
    try:
        return {entry["stream"]["name"]: entry.get("sync_mode", FULL_REFRESH) for entry in streams}
    except (KeyError, TypeError, AttributeError) as exc:
        if any(isinstance(entry, dict) and "tap_stream_id" in entry for entry in streams):
            msg = (
                "the catalog is a Singer catalog (streams with `tap_stream_id`); source-mega "
                "read needs an Airbyte configured catalog, `streams` of "
                "`{stream: {name, json_schema}, sync_mode}` as Airbyte writes it"
            )
        else:
            msg = (
                "the catalog has a stream entry without `stream.name`; source-mega read "
                "needs an Airbyte configured catalog"
            )
        raise InputError(msg) from exc


def selected_fields(configured_catalog: Json) -> dict[str, frozenset[str] | None]:
    """Stream name to the top-level fields Airbyte asks for; None: every field.

    The protocol has no field list: Airbyte's column selection prunes the
    configured stream's `json_schema` to the selected columns, so its
    `properties` are the selection. A schema without them (`{}`, common in
    hand-written catalogs) selects everything. Call after `sync_modes`, which
    refuses a catalog of another shape.
    """
    fields: dict[str, frozenset[str] | None] = {}
    for entry in configured_catalog["streams"]:
        schema = entry["stream"].get("json_schema")
        properties = schema.get("properties") if isinstance(schema, dict) else None
        fields[entry["stream"]["name"]] = (
            frozenset(properties) if isinstance(properties, dict) else None
        )
    return fields
