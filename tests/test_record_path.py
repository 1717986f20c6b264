"""The fast record path writes exactly what the SDK's path writes."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import math
import os
import sys
import threading
import time
import typing as t
from contextlib import redirect_stdout

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage, StateMessage
from singer_sdk.singerlib.json import serialize_json

from tap_mega.streams.leads import LeadsStream
from tap_mega.streams.records import compile_shape, is_conformant
from tap_mega.streams.schema import LEAD_SCHEMA
from tap_mega.streams.writer import LineWriter, write_stdout
from tap_mega.tap import TapMega
from tap_mega.testing.leadgen import generate_leads
from tests.helpers.scripted import page, script_pages, sorted_leads
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator

SHAPE = compile_shape(LEAD_SCHEMA)


def sdk_conform(record: dict[str, t.Any]) -> dict[str, t.Any]:
    return conform_record_data_types(
        "leads", copy.deepcopy(record), LEAD_SCHEMA, TypeConformanceLevel.RECURSIVE,
        logging.getLogger("test"),
    )


def test_generated_leads_are_conformant_and_the_sdk_agrees() -> None:
    leads = generate_leads(300, seed=9, customer_id="c")
    for lead in leads:
        assert is_conformant(lead, SHAPE)
        assert sdk_conform(lead) == lead


@pytest.mark.parametrize(
    "change",
    [
        {"brand_new_field": 1},  # unknown property: the SDK drops it
        {"qualified": 1},  # not a boolean: the SDK rewrites it
        {"score": math.nan},  # NaN: the SDK writes null
        {"owner": {"id": "o", "name": "n", "role_name": None, "extra": True}},
        {"current_stage": {"id": "s", "slug": "x", "name": "y", "color": math.inf}},
        {"tags": ["a"]},
    ],
    ids=["unknown", "bool", "nan", "nested-unknown", "nested-inf", "array"],
)
def test_the_fast_path_is_taken_only_when_the_sdk_changes_nothing(
    change: dict[str, t.Any],
) -> None:
    lead = {**generate_leads(1, seed=1, customer_id="c")[0], **change}
    conformed = sdk_conform(lead)
    assert is_conformant(lead, SHAPE) == (repr(conformed) == repr(lead))


def test_open_custom_fields_pass_as_they_are() -> None:
    lead = generate_leads(1, seed=2, customer_id="c")[0]
    lead["custom_fields"] = {"anything": 1.5, "new_slug": True, "x": None}
    assert is_conformant(lead, SHAPE)
    assert sdk_conform(lead) == lead


@pytest.mark.parametrize(
    "message",
    [
        RecordMessage(
            stream="leads",
            record={"id": "é", "n": 1.5, "b": True, "z": None, "o": {"k": [1, "x"]}},
            version=3,
            time_extracted=dt.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=dt.timezone.utc),
        ),
        RecordMessage(stream="leads", record={"n": math.nan}),
        StateMessage(value={"bookmarks": {"leads": {"replication_key_value": "2026"}}}),
    ],
    ids=["record", "nan", "state"],
)
def test_writer_serialises_byte_for_byte_as_the_sdk(message: t.Any) -> None:
    assert LineWriter().serialize_message(message) == serialize_json(message.to_dict())


def test_writer_holds_records_until_the_next_state_and_keeps_their_order() -> None:
    writer = LineWriter()
    out = io.StringIO()
    with redirect_stdout(out):
        writer.write_message(RecordMessage(stream="leads", record={"id": "1"}))
        writer.write_message(RecordMessage(stream="leads", record={"id": "2"}))
        held = out.getvalue()
        writer.write_message(StateMessage(value={"bookmarks": {}}))
    assert held == ""
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["type"] for line in lines] == ["RECORD", "RECORD", "STATE"]
    assert [line["record"]["id"] for line in lines[:2]] == ["1", "2"]


@pytest.mark.parametrize(
    ("record", "version", "time_extracted"),
    [
        ({"id": "é", "n": 1.5, "o": {"k": [1, "x"]}}, 3,
         dt.datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=dt.timezone.utc)),
        ({"id": "1"}, None, None),
        ({"id": "1"}, 7, dt.datetime(2026, 1, 2, 5, 4, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
        ({"n": math.nan}, 1, dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)),
        ({"d": dt.date(2026, 1, 2)}, None, None),
    ],
    ids=["plain", "bare", "non-utc-extraction", "nan", "date-value"],
)
def test_record_lines_are_byte_for_byte_the_sdks(
    record: dict[str, t.Any], version: int | None, time_extracted: dt.datetime | None
) -> None:
    expected = serialize_json(
        RecordMessage(
            stream="leads", record=record, version=version, time_extracted=time_extracted
        ).to_dict()
    )
    writer = LineWriter()
    out = io.StringIO()
    with redirect_stdout(out):
        writer.write_record("leads", record, version, time_extracted)
        writer.write_record("leads", record, version, time_extracted)  # the cached frame
        writer.flush()
    assert out.getvalue() == f"{expected}\n{expected}\n"


def test_a_float_in_a_nested_object_takes_the_sdks_path() -> None:
    lead = generate_leads(1, seed=4, customer_id="c")[0]
    lead["owner"] = {"id": "o", "name": "n", "role_name": None, "weight": 0.5}
    assert not is_conformant(lead, SHAPE)  # finite: the SDK would keep it, but checks it


ODD_LEADS: list[dict[str, t.Any]] = [
    {"brand_new_field": 1},
    {"qualified": 1},
    {"score": 2.5},  # JSON has no NaN: a page carrying one is refused as not JSON
    {"custom_fields": {"budget": 1.5, "vip": True}},
    {"owner": {"id": "o", "name": "n", "role_name": None, "weight": 0.5}},
    {"current_stage": {"id": "s", "slug": "x", "name": "y", "color": "#fff", "rank": 2}},
    {"contact_name": "Zoë 😀"},
]


def scripted_sync_output(emulator: MegaEmulator) -> list[str]:
    """The tap's stdout lines."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        TapMega(config=tap_config(emulator), parse_env_config=False).sync_all()
    return buffer.getvalue().splitlines()


def test_a_whole_sync_writes_what_the_sdks_own_path_writes(
    make_emulator: t.Callable[..., MegaEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    leads = sorted_leads(250, seed=12)
    for lead, change in zip(leads[3::30], ODD_LEADS, strict=False):
        lead.update(change)
    bodies = [page(leads[:100], "c1"), page(leads[100:200], "c2"), page(leads[200:], None)]
    fast_emulator, sdk_emulator = make_emulator(leads=[]), make_emulator(leads=[])
    # One extraction time for both runs (the one part that moves), with microseconds.
    extracted = dt.datetime(2026, 11, 29, 15, 4, 5, 123456, tzinfo=dt.timezone.utc)
    for clock in ("tap_mega.streams.walk.utc_now", "singer_sdk.streams.core.utc_now"):
        monkeypatch.setattr(clock, lambda: extracted)
    script_pages(fast_emulator, bodies)
    script_pages(sdk_emulator, bodies)

    fast = scripted_sync_output(fast_emulator)
    monkeypatch.setattr(TapMega, "message_writer_class", SingerWriter)
    monkeypatch.setattr(LeadsStream, "plain_records", False)
    sdk = scripted_sync_output(sdk_emulator)

    assert sum(line.startswith('{"type":"RECORD"') for line in fast) == 250
    records = [line for line in fast if line.startswith('{"type":"RECORD"')]
    assert all('"time_extracted":"2026-11-29T15:04:05.123456+00:00"}' in line for line in records)
    assert fast == sdk


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking", "non-blocking"])
def test_stdout_writes_lose_nothing_when_the_file_takes_part_of_a_write(
    monkeypatch: pytest.MonkeyPatch, blocking: bool
) -> None:
    # stdout as PYTHONUNBUFFERED=1 leaves it (text layer straight on the file), on a
    # pipe read slowly: the file takes part of a write, or (non-blocking) none of it.
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, blocking)
    stdout = io.TextIOWrapper(io.FileIO(write_end, "w"), write_through=True)
    received: list[bytes] = []

    def drain() -> None:
        while chunk := os.read(read_end, 4096):
            received.append(chunk)
            time.sleep(0.0005)

    reader = threading.Thread(target=drain)
    reader.start()
    text = "".join(f'{{"line":{n},"pad":"{"x" * 200}"}}\n' for n in range(5000))
    monkeypatch.setattr(sys, "stdout", stdout)
    write_stdout(text)
    stdout.close()
    reader.join(timeout=30)
    os.close(read_end)

    assert b"".join(received).decode() == text
