"""Every line `source-mega` writes parses as an Airbyte protocol message."""

from __future__ import annotations

import json
import typing as t

import pytest
from airbyte_protocol.models import AirbyteMessage, Type

from tap_mega.testing.emulator import Fault
from tests.helpers.airbyte_venv import run_source
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

# The field each message type must carry, as the protocol names it.
PAYLOAD = {
    Type.SPEC: "spec",
    Type.CONNECTION_STATUS: "connectionStatus",
    Type.CATALOG: "catalog",
    Type.RECORD: "record",
    Type.STATE: "state",
    Type.LOG: "log",
    Type.TRACE: "trace",
}


def parse_all(lines: list[str]) -> list[AirbyteMessage]:
    assert lines, "source-mega wrote nothing"
    messages = [AirbyteMessage.model_validate_json(line) for line in lines]
    for message in messages:
        assert getattr(message, PAYLOAD[message.type]) is not None, message
    return messages


def catalog(sync_mode: str = "incremental") -> dict[str, t.Any]:
    return {
        "streams": [
            {
                "stream": {"name": "leads", "json_schema": {}, "supported_sync_modes": [sync_mode]},
                "sync_mode": sync_mode,
                "destination_sync_mode": "append",
            }
        ]
    }


def test_spec_lines_are_protocol_messages(tmp_path: Path) -> None:
    [spec] = parse_all(run_source(tmp_path, "spec"))
    assert spec.type == Type.SPEC


@pytest.mark.parametrize("token_ok", [True, False])
def test_check_lines_are_protocol_messages(
    emulator: MegaEmulator, tmp_path: Path, token_ok: bool
) -> None:
    config = tap_config(emulator, **({} if token_ok else {"token": "mega_" + "0" * 64}))
    messages = parse_all(run_source(tmp_path, "check", config=config))
    [status] = [m for m in messages if m.type == Type.CONNECTION_STATUS]
    assert status.connectionStatus is not None
    assert status.connectionStatus.status.value == ("SUCCEEDED" if token_ok else "FAILED")


def test_discover_lines_are_protocol_messages(emulator: MegaEmulator, tmp_path: Path) -> None:
    messages = parse_all(run_source(tmp_path, "discover", config=tap_config(emulator)))
    [found] = [m for m in messages if m.type == Type.CATALOG]
    assert found.catalog is not None
    assert [s.name for s in found.catalog.streams] == ["leads"]


@pytest.mark.parametrize("sync_mode", ["incremental", "full_refresh"])
def test_read_lines_are_protocol_messages(
    emulator: MegaEmulator, tmp_path: Path, sync_mode: str
) -> None:
    lines = run_source(
        tmp_path, "read", config=tap_config(emulator), catalog=catalog(sync_mode), state=[]
    )
    messages = parse_all(lines)
    kinds = {m.type for m in messages}
    assert {Type.RECORD, Type.STATE, Type.LOG} <= kinds
    assert sum(m.type == Type.RECORD for m in messages) == len(emulator.leads)


def test_failed_read_lines_are_protocol_messages(emulator: MegaEmulator, tmp_path: Path) -> None:
    emulator.add_fault(Fault("status", at_request=1, count=1, status=401))
    lines = run_source(tmp_path, "read", config=tap_config(emulator), catalog=catalog())
    messages = parse_all(lines)
    [trace] = [m for m in messages if m.type == Type.TRACE]
    assert trace.trace is not None
    assert trace.trace.error is not None
    assert trace.trace.error.failure_type is not None
    assert trace.trace.error.failure_type.value == "config_error"
    assert json.loads(lines[-1])["type"] == "TRACE"
