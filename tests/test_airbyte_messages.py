"""The pieces of `source-mega` that translate between the protocols, one at a time."""

from __future__ import annotations

import io
import json
import logging
import typing as t
from contextlib import redirect_stdout

import pytest
from singer_sdk.singerlib import (
    ActivateVersionMessage,
    RecordMessage,
    SchemaMessage,
    StateMessage,
)

from tap_mega.airbyte.inputs import selected_fields, singer_state, sync_modes
from tap_mega.airbyte.messages import Output, route_logging, stream_state_message, translate
from tap_mega.errors import InputError
from tap_mega.redaction import register_secret

BOOKMARK = {"replication_key": "updated_at", "replication_key_value": "2026-01-07T13:38:05.002000Z"}


def airbyte_stream_state(name: str, stream_state: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state},
    }


@pytest.mark.parametrize("empty", [None, [], {}])
def test_no_state_is_a_first_sync(empty: t.Any) -> None:
    assert singer_state(empty) == {}


def test_per_stream_state_becomes_the_taps_bookmarks() -> None:
    state = [airbyte_stream_state("leads", BOOKMARK)]

    assert singer_state(state) == {"bookmarks": {"leads": BOOKMARK}}


def test_what_source_mega_writes_is_what_it_reads_back() -> None:
    [message] = translate(StateMessage(value={"bookmarks": {"leads": BOOKMARK}}))

    assert singer_state([message["state"]]) == {"bookmarks": {"leads": BOOKMARK}}


def test_legacy_state_is_accepted() -> None:
    legacy = {"bookmarks": {"leads": BOOKMARK}}

    assert singer_state(legacy) == legacy
    assert singer_state([{"type": "LEGACY", "data": legacy}]) == legacy


def test_empty_stream_states_are_dropped() -> None:
    assert singer_state([airbyte_stream_state("leads", {})]) == {}


@pytest.mark.parametrize("state", ["2026-01-01", 42, ["2026-01-01"], [BOOKMARK, None]])
def test_state_of_another_shape_is_refused(state: t.Any) -> None:
    with pytest.raises(InputError, match="list of per-stream states"):
        singer_state(state)


def test_record_keeps_the_data_and_stamps_milliseconds() -> None:
    record = {"id": "a", "updated_at": "2026-01-01T00:00:00.000000Z"}

    [message] = translate(RecordMessage(stream="leads", record=record))

    assert message["type"] == "RECORD"
    assert message["record"]["stream"] == "leads"
    assert message["record"]["data"] == record
    assert 1e12 < message["record"]["emitted_at"] < 1e14


def test_schema_has_no_airbyte_message() -> None:
    assert translate(SchemaMessage(stream="leads", schema={}, key_properties=["id"])) == []


def test_activate_version_is_one_log_line_saying_no_row_is_retired() -> None:
    [message] = translate(ActivateVersionMessage(stream="leads", version=1796593572))

    assert message["type"] == "LOG"
    assert message["log"]["level"] == "INFO"
    text = message["log"]["message"]
    assert text.startswith("source-mega: dropped ACTIVATE_VERSION 1796593572 of `leads`")
    assert "full refresh" in text


def test_state_per_stream() -> None:
    state = {"bookmarks": {"leads": BOOKMARK, "other": {"x": 1}}}

    assert translate(StateMessage(value=state)) == [
        stream_state_message("leads", BOOKMARK),
        stream_state_message("other", {"x": 1}),
    ]


def test_sync_modes_by_stream() -> None:
    catalog = {"streams": [{"stream": {"name": "leads"}, "sync_mode": "incremental"}]}

    assert sync_modes(catalog) == {"leads": "incremental"}


@pytest.mark.parametrize(
    ("stream", "fields"),
    [
        (
            {"name": "leads", "json_schema": {"properties": {"id": {}, "status": {}}}},
            frozenset({"id", "status"}),
        ),
        ({"name": "leads", "json_schema": {"type": "object", "properties": {}}}, frozenset()),
        ({"name": "leads", "json_schema": {}}, None),
        ({"name": "leads"}, None),
        ({"name": "leads", "json_schema": {"properties": ["id"]}}, None),
    ],
)
def test_the_configured_schema_is_the_column_selection(
    stream: dict[str, t.Any],
    fields: frozenset[str] | None,
) -> None:
    catalog = {"streams": [{"stream": stream, "sync_mode": "incremental"}]}

    assert selected_fields(catalog) == {"leads": fields}


@pytest.mark.parametrize("catalog", [[], {"streams": "leads"}, {"streams": [{"sync_mode": "x"}]}])
def test_a_catalog_that_is_not_configured_is_refused(catalog: t.Any) -> None:
    with pytest.raises(InputError, match="catalog"):
        sync_modes(catalog)


@pytest.mark.parametrize("secret", ["mega_secret", 'mega_"quoted"\\secret'])
def test_logs_and_errors_never_show_the_token(secret: str) -> None:
    register_secret(secret)
    output = Output()
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        output.log("INFO", f"calling with {secret}")
        output.error(f"401 for {secret}", "config_error", stack_trace=f"in call({secret})")

    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert secret not in buffer.getvalue()
    assert json.dumps(secret)[1:-1] not in buffer.getvalue()
    assert lines[0]["log"] == {"level": "INFO", "message": "calling with <redacted>"}
    error = lines[1]["trace"]["error"]
    assert error["failure_type"] == "config_error"
    assert error["stack_trace"] == "in call(<redacted>)"


def test_logging_becomes_log_messages() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            route_logging(Output())
            logging.getLogger("tap-mega.leads").warning("slow down: %d", 3)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)

    [line] = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert line == {
        "type": "LOG",
        "log": {"level": "WARN", "message": "tap-mega.leads: slow down: 3"},
    }
