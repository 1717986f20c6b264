"""Records take the SDK's own path: its bytes, selection, stream maps and conformance.

The tap writes each line whole (writer.py) but otherwise as the SDK does; RECORDs
carry a `version` once one is set (the mirror's full pass), and a schema replaced
mid-stream governs the records after it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import sys
import threading
import time
import typing as t
from contextlib import redirect_stdout

import pytest
from singer_sdk.io_base import SingerWriter

from tap_mega.streams.writer import write_stdout
from tap_mega.tap import TapMega
from tests.helpers.scripted import page, script_pages, sorted_leads
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator

ODD_LEADS: list[dict[str, t.Any]] = [
    {"brand_new_field": 1},  # unknown property: the SDK drops it
    {"qualified": 1},  # not a boolean: the SDK rewrites it
    {"score": 2.5},  # JSON has no NaN: a page carrying one is refused as not JSON
    {"custom_fields": {"budget": 1.5, "vip": True}},
    {"owner": {"id": "o", "name": "n", "role_name": None, "weight": 0.5}},
    {"current_stage": {"id": "s", "slug": "x", "name": "y", "color": "#fff", "rank": 2}},
    {"contact_name": "Zoë 😀"},
]


def three_pages(emulator: MegaEmulator, leads: list[dict[str, t.Any]]) -> None:
    script_pages(
        emulator, [page(leads[:100], "c1"), page(leads[100:200], "c2"), page(leads[200:], None)]
    )


def sync_output(tap: TapMega) -> list[str]:
    """The tap's stdout lines."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return buffer.getvalue().splitlines()


def steady(lines: list[str]) -> list[str]:
    """The lines without the resume point's `served_at`: the emulator's clock moves on."""
    return [re.sub(r'"served_at":"[^"]*"', '"served_at":""', line) for line in lines]


def records(lines: list[str]) -> list[dict[str, t.Any]]:
    return [m for m in map(json.loads, lines) if m["type"] == "RECORD"]


def test_a_whole_sync_writes_what_the_sdks_own_writer_writes(
    make_emulator: t.Callable[..., MegaEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    leads = sorted_leads(250, seed=12)
    for lead, change in zip(leads[3::30], ODD_LEADS, strict=False):
        lead.update(change)
    ours_emulator, sdk_emulator = make_emulator(leads=[]), make_emulator(leads=[])
    # One extraction time for both runs (the one part that moves), with microseconds.
    extracted = dt.datetime(2026, 11, 29, 15, 4, 5, 123456, tzinfo=dt.timezone.utc)
    monkeypatch.setattr("singer_sdk.streams.core.utc_now", lambda: extracted)
    three_pages(ours_emulator, leads)
    three_pages(sdk_emulator, leads)

    ours = sync_output(TapMega(config=tap_config(ours_emulator), parse_env_config=False))
    monkeypatch.setattr(TapMega, "message_writer_class", SingerWriter)
    sdk = sync_output(TapMega(config=tap_config(sdk_emulator), parse_env_config=False))

    written = [line for line in ours if line.startswith('{"type":"RECORD"')]
    assert len(written) == 250
    assert all('"time_extracted":"2026-11-29T15:04:05.123456+00:00"}' in line for line in written)
    assert steady(ours) == steady(sdk)
    conformed = {r["record"]["id"]: r["record"] for r in records(ours)}
    assert "brand_new_field" not in conformed[leads[3]["id"]]
    assert conformed[leads[33]["id"]]["qualified"] is True


def test_selection_and_stream_maps_shape_the_records(
    make_emulator: t.Callable[..., MegaEmulator],
) -> None:
    emulator = make_emulator(n_leads=120, seed=5)
    config = tap_config(
        emulator, stream_maps={"leads": {"contact_email": "__NULL__", "ref": "'L-' + id"}}
    )
    catalog = TapMega(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == ["properties", "contact_phone"]:
            entry["metadata"]["selected"] = False

    written = records(sync_output(TapMega(config=config, catalog=catalog, parse_env_config=False)))

    assert len(written) == 120
    for message in written:
        assert "contact_email" not in message["record"]
        assert "contact_phone" not in message["record"]
        assert message["record"]["ref"] == "L-" + message["record"]["id"]


def test_records_carry_the_version_once_one_is_set(
    make_emulator: t.Callable[..., MegaEmulator],
) -> None:
    emulator = make_emulator(n_leads=30, seed=6)
    tap = TapMega(config=tap_config(emulator), parse_env_config=False)
    assert all("version" not in m for m in records(sync_output(tap)))

    tap = TapMega(config=tap_config(emulator), parse_env_config=False)
    tap.streams["leads"]._stream_version = 1764000000  # see sdk_contract.py
    written = records(sync_output(tap))

    assert len(written) == 30
    assert {m["version"] for m in written} == {1764000000}


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
