"""Running the tap in this process, and reading what it wrote: records, states, schemas."""

from __future__ import annotations

import io
import json
import typing as t
from contextlib import redirect_stdout
from dataclasses import dataclass, field

from tap_mega.tap import TapMega

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator

#: The query the tap's discovery sample sends (test_custom_fields.py, test_fleet.py).
SAMPLE = {
    "sort_by": "updated_at",
    "sort_dir": "desc",
    "limit": "100",
    "include_custom_fields": "true",
}


@dataclass
class SyncResult:
    """What a user of the tap sees on stdout, split by message type."""

    messages: list[dict[str, t.Any]]
    records: list[dict[str, t.Any]] = field(default_factory=list)
    states: list[dict[str, t.Any]] = field(default_factory=list)
    schemas: list[dict[str, t.Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for message in self.messages:
            kind = message["type"]
            if kind == "RECORD":
                self.records.append(message["record"])
            elif kind == "STATE":
                self.states.append(message["value"])
            elif kind == "SCHEMA":
                self.schemas.append(message)

    @property
    def final_state(self) -> dict[str, t.Any]:
        return self.states[-1]

    @property
    def ids(self) -> list[str]:
        return [record["id"] for record in self.records]

    def checkpoints(self) -> list[tuple[dict[str, t.Any], set[str]]]:
        """Each STATE with the ids delivered before it: what a run killed there had."""
        delivered: set[str] = set()
        result: list[tuple[dict[str, t.Any], set[str]]] = []
        for message in self.messages:
            if message["type"] == "RECORD":
                delivered.add(message["record"]["id"])
            elif message["type"] == "STATE":
                result.append((message["value"], set(delivered)))
        return result


def bookmark(state: dict[str, t.Any]) -> dict[str, t.Any]:
    """The leads stream's entry of a Singer state."""
    return t.cast("dict[str, t.Any]", state["bookmarks"]["leads"])


def parse_messages(text: str) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_sync(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
) -> SyncResult:
    """Run the tap in this process and collect what it writes to stdout."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap = TapMega(config=config, state=state, catalog=catalog, parse_env_config=False)
        tap.sync_all()
    return SyncResult(parse_messages(buffer.getvalue()))


#: The generated leads' custom fields, as discovery declares them (see leadgen.py).
EMULATOR_CUSTOM_FIELDS = {
    "lead_line": "string",
    "budget": "integer",
    "price_per_sqft": "number",
    "preapproved": "boolean",
    "timeline": "string",
    "notes": "string",
    "bedrooms": "any",
    "preferred_contact": "string",
}


def tap_config(emulator: MegaEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings that point the tap at `emulator`, its custom fields declared by setting.

    Declared, not discovered, so a sync without a catalog makes no sample request
    and a test's request k is its walk's k-th: faults and request counts keep their
    meaning. test_custom_fields.py tests discovery, without this setting. For the
    same reason no reconcile check or pass: the mirror's tests turn them on.
    """
    config: dict[str, t.Any] = {
        "token": emulator.token,
        "customer_id": emulator.customer_id,
        "api_url": emulator.url,
        "custom_fields_schema": dict(EMULATOR_CUSTOM_FIELDS),
        "reconcile_deletes": False,
    }
    config.update(overrides)
    return config


def full_table_catalog(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The tap's catalog with every stream switched to FULL_TABLE."""
    catalog = TapMega(config=config, parse_env_config=False).catalog_dict
    for stream in catalog["streams"]:
        stream["replication_method"] = "FULL_TABLE"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["forced-replication-method"] = "FULL_TABLE"
    return catalog
