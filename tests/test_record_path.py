"""The fast record path writes exactly what the SDK's path writes."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import math
import typing as t
from contextlib import redirect_stdout

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage, StateMessage
from singer_sdk.singerlib.json import serialize_json

from tap_mega.records import compile_shape, is_conformant
from tap_mega.streams import LEAD_SCHEMA
from tap_mega.testing.leadgen import generate_leads
from tap_mega.writer import LineWriter

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
