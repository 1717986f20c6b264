"""Airbyte's input files (--config, --catalog, --state), read into what the tap takes.

Every problem is an InputError of one line naming the file, never echoing its content.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

from tap_mega.errors import InputError

Json = dict[str, t.Any]
FULL_REFRESH = "full_refresh"


def read_json(path: str, what: str) -> t.Any:
    """Parse a JSON input file, refusing it in one line (never echoing its content)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read the {what} file {path}: {exc.strerror or exc}"
        raise InputError(msg) from exc
    except UnicodeDecodeError as exc:  # JSON is UTF-8 text (RFC 8259)
        msg = f"the {what} file {path} is not valid JSON: not UTF-8 text"
        raise InputError(msg) from exc
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        msg = f"the {what} file {path} is not valid JSON"
        raise InputError(msg) from exc


def read_config(path: str) -> Json:
    """The connector's settings, as Airbyte wrote them."""
    config = read_json(path, "config")
    if not isinstance(config, dict):
        msg = "invalid settings: the config must be a JSON object"
        raise InputError(msg)
    return config


def singer_state(airbyte_state: t.Any) -> Json:
    """The tap's state from Airbyte's: per-stream states, or a legacy object.

    Airbyte sends a list of per-stream states (possibly `[]`); older platforms
    send one legacy object, which for this source is the tap's own state.
    """
    if not airbyte_state:
        return {}
    if isinstance(airbyte_state, dict):
        legacy = airbyte_state.get("data", airbyte_state)
        return legacy if isinstance(legacy, dict) and "bookmarks" in legacy else {}
    if not isinstance(airbyte_state, list):
        msg = "the state must be a list of per-stream states"
        raise InputError(msg)
    if not all(isinstance(entry, dict) for entry in airbyte_state):
        msg = "the state must be a list of per-stream states (JSON objects)"
        raise InputError(msg)
    bookmarks: Json = {}
    for entry in airbyte_state:
        stream = entry.get("stream")
        if not isinstance(stream, dict):
            if entry.get("type") == "LEGACY":
                return singer_state(entry.get("data"))
            continue
        name = stream.get("stream_descriptor", {}).get("name")
        stream_state = stream.get("stream_state")
        if name and isinstance(stream_state, dict) and stream_state:
            bookmarks[name] = stream_state
    return {"bookmarks": bookmarks} if bookmarks else {}


def sync_modes(configured_catalog: t.Any) -> dict[str, str]:
    """Stream name to the sync mode Airbyte asks for."""
    streams = configured_catalog.get("streams") if isinstance(configured_catalog, dict) else None
    if not isinstance(streams, list):
        msg = "the catalog must be a configured catalog with a `streams` list"
        raise InputError(msg)
    try:
        return {entry["stream"]["name"]: entry.get("sync_mode", FULL_REFRESH) for entry in streams}
    except (KeyError, TypeError, AttributeError) as exc:
        msg = "the catalog has a stream entry without `stream.name`"
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
