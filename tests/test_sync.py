"""A full sync, incremental runs and state, as a user of the tap sees them."""

from __future__ import annotations

import datetime as dt
import math
import typing as t

import jsonschema
import pytest

from tap_mega.timestamps import normalize_timestamp, parse_timestamp
from tests.helpers.sync import bookmark, full_table_catalog, run_sync, tap_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator


def latest_by_id(records: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """What a target that merges on `id` ends up holding."""
    merged: dict[str, dict[str, t.Any]] = {}
    for record in records:
        merged[record["id"]] = record
    return merged


def truth(emulator: MegaEmulator) -> dict[str, dict[str, t.Any]]:
    return {lead["id"]: lead for lead in emulator.leads}


def same_lead(record: dict[str, t.Any], lead: dict[str, t.Any]) -> bool:
    """Equal but for `updated_at`'s spelling, which the tap normalises."""
    left = {**record, "updated_at": normalize_timestamp(record["updated_at"])}
    right = {**lead, "updated_at": normalize_timestamp(lead["updated_at"])}
    return left == right


def test_full_sync_emits_every_lead_once_and_valid(emulator: MegaEmulator) -> None:
    result = run_sync(tap_config(emulator))

    assert sorted(result.ids) == sorted(lead["id"] for lead in emulator.leads)
    assert len(result.ids) == len(set(result.ids))
    [schema_message] = result.schemas
    assert schema_message["key_properties"] == ["id"]
    assert schema_message["bookmark_properties"] == ["updated_at"]
    validator = jsonschema.Draft7Validator(
        schema_message["schema"], format_checker=jsonschema.FormatChecker()
    )
    for record in result.records:
        validator.validate(record)
    expected = truth(emulator)
    assert all(same_lead(record, expected[record["id"]]) for record in result.records)


def test_final_bookmark_is_max_updated_at_without_progress_markers(
    emulator: MegaEmulator,
) -> None:
    result = run_sync(tap_config(emulator))

    final = bookmark(result.final_state)
    newest = max(parse_timestamp(lead["updated_at"]) for lead in emulator.leads)
    assert final["replication_key"] == "updated_at"
    assert parse_timestamp(final["replication_key_value"]) == newest
    assert final["replication_key_value"] == normalize_timestamp(final["replication_key_value"])
    assert "progress_markers" not in final
    assert "replication_key_signpost" not in final
    assert "starting_replication_value" not in final


def test_state_follows_every_page(emulator: MegaEmulator) -> None:
    result = run_sync(tap_config(emulator, page_size=25))

    values = [bookmark(state)["replication_key_value"] for state in result.states]
    assert values == sorted(values)
    # At the end of every page (25 records), the latest STATE covers the whole page;
    # an unchanged bookmark (ties across pages) is not written twice.
    latest_state: str | None = None
    seen: list[str] = []
    for message in result.messages:
        if message["type"] == "RECORD":
            if seen and len(seen) % 25 == 0:
                assert latest_state == seen[-1], f"no checkpoint after record {len(seen)}"
            # The record carries MEGA's spelling; the bookmark is canonical.
            seen.append(normalize_timestamp(message["record"]["updated_at"]))
        elif message["type"] == "STATE":
            latest_state = bookmark(message["value"]).get("replication_key_value")
            if seen:
                assert latest_state == max(seen)
    assert latest_state == seen[-1]
    assert len(seen) == len(emulator.leads)


def test_requests_follow_the_documented_incremental_poll(emulator: MegaEmulator) -> None:
    page_size = 40
    run_sync(tap_config(emulator, page_size=page_size))

    requests = emulator.requests
    assert len(requests) == math.ceil(len(emulator.leads) / page_size)
    first, *rest = requests
    for request in requests:
        assert request.path == "/api/agents/crm/leads"
        assert request.params["sort_by"] == "updated_at"
        assert request.params["sort_dir"] == "asc"
        assert request.params["limit"] == str(page_size)
        assert request.params["include_custom_fields"] == "true"
        assert request.headers["x-customer-id"] == emulator.customer_id
        assert emulator.token not in str(request.params)
    assert "cursor" not in first.params
    assert "updated_since" not in first.params
    cursors = [request.params["cursor"] for request in rest]
    assert len(set(cursors)) == len(cursors)


def test_second_run_starts_at_the_bookmark(emulator: MegaEmulator) -> None:
    # Without lookback (tests/test_lookback.py covers the default).
    first = run_sync(tap_config(emulator, lookback_window=0))
    mark = bookmark(first.final_state)["replication_key_value"]
    before = emulator.request_count

    emulator.update_leads(count=120)  # the second run has several pages to walk
    second = run_sync(
        tap_config(emulator, page_size=50, lookback_window=0), state=first.final_state
    )

    requests = emulator.requests[before:]
    assert len(requests) == math.ceil(len(second.records) / 50) > 1
    for request in requests:  # the same filter on every cursor page, as MEGA asks
        assert parse_timestamp(request.params["updated_since"]) == parse_timestamp(mark)
    assert second.records, "the inclusive bound re-reads the leads at the bookmark"
    assert all(record["updated_at"] >= mark for record in second.records)
    newest = max(parse_timestamp(lead["updated_at"]) for lead in emulator.leads)
    assert parse_timestamp(bookmark(second.final_state)["replication_key_value"]) == newest


def test_replaying_any_mid_sync_state_loses_nothing(emulator: MegaEmulator) -> None:
    config = tap_config(emulator, page_size=30, lookback_window=0)
    full = run_sync(config)
    everything = set(full.ids)
    checkpoints = full.checkpoints()

    for state, delivered_before in checkpoints:
        resumed = run_sync(config, state=state)
        mark = bookmark(state).get("replication_key_value")
        assert delivered_before | set(resumed.ids) == everything
        if mark:
            assert all(record["updated_at"] >= mark for record in resumed.records)


def test_bookmark_in_the_future_emits_nothing(emulator: MegaEmulator) -> None:
    future = "2999-01-01T00:00:00.000000Z"
    state = {
        "bookmarks": {"leads": {"replication_key": "updated_at", "replication_key_value": future}}
    }

    result = run_sync(tap_config(emulator), state=state)

    assert result.records == []
    assert bookmark(result.final_state)["replication_key_value"] == future


def test_hand_written_bookmark_is_normalised(emulator: MegaEmulator) -> None:
    full = run_sync(tap_config(emulator))
    mark = bookmark(full.final_state)["replication_key_value"]
    offset_spelling = (
        parse_timestamp(mark).astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    )
    state = {
        "bookmarks": {
            "leads": {"replication_key": "updated_at", "replication_key_value": offset_spelling}
        }
    }

    result = run_sync(tap_config(emulator), state=state)

    assert result.records
    assert bookmark(result.final_state)["replication_key_value"] == mark


def test_start_date_and_bookmark_take_the_later(emulator: MegaEmulator) -> None:
    instants = sorted({lead["updated_at"] for lead in emulator.leads})
    middle = instants[len(instants) // 2]

    result = run_sync(tap_config(emulator, start_date=middle))

    expected = {
        lead["id"]
        for lead in emulator.leads
        if parse_timestamp(lead["updated_at"]) >= parse_timestamp(middle)
    }
    assert set(result.ids) == expected
    early_state = {
        "bookmarks": {
            "leads": {"replication_key": "updated_at", "replication_key_value": instants[0]}
        }
    }
    again = run_sync(tap_config(emulator, start_date=middle), state=early_state)
    assert set(again.ids) == expected


def test_leads_changed_during_a_sync_arrive_with_new_values(
    make_emulator: t.Callable[..., MegaEmulator],
) -> None:
    emulator = make_emulator(n_leads=300, seed=3)
    changed: list[str] = []
    inserted: list[str] = []

    def change(emu: MegaEmulator) -> None:
        oldest = sorted(emu.leads, key=lambda lead: lead["updated_at"])[:5]
        changed.extend(emu.update_leads(ids=[lead["id"] for lead in oldest], status="won"))
        inserted.extend(lead["id"] for lead in emu.insert_leads(7))

    emulator.on_request(2, change)
    result = run_sync(tap_config(emulator, page_size=50))

    final = latest_by_id(result.records)
    expected = truth(emulator)
    assert set(final) == set(expected)
    for lead_id in changed:
        assert final[lead_id]["status"] == "won"
    assert set(inserted) <= set(final)
    assert all(same_lead(final[i], expected[i]) for i in expected)


@pytest.mark.parametrize(
    ("setting", "value", "wire", "expected"),
    [
        ("status", "won", "status", "won"),
        ("lead_line", "buyer", "lead_line", "buyer"),
        ("search", "a", "search", "a"),
        ("include_custom_fields", False, "include_custom_fields", "false"),
    ],
)
def test_filters_pass_through(
    emulator: MegaEmulator, setting: str, value: t.Any, wire: str, expected: str
) -> None:
    config = tap_config(emulator, **{setting: value})
    if setting == "include_custom_fields":
        del config["custom_fields_schema"]  # declared fields MEGA is not asked for: refused
    result = run_sync(config)

    assert all(request.params[wire] == expected for request in emulator.requests)
    if setting == "status":
        assert result.records
        assert {record["status"] for record in result.records} == {"won"}
    if setting == "include_custom_fields":
        assert all("custom_fields" not in record for record in result.records)


def test_stage_filter_is_sent_as_stageid(emulator: MegaEmulator) -> None:
    stage_ids = {lead["current_stage"]["id"] for lead in emulator.leads if lead["current_stage"]}
    stage_id = min(stage_ids)

    result = run_sync(tap_config(emulator, stage_id=stage_id))

    assert all(request.params["stageId"] == stage_id for request in emulator.requests)
    assert result.records
    assert {record["current_stage"]["id"] for record in result.records} == {stage_id}


CUSTOM = {"budget": 15, "vip": True, "notes": None, "visits": 3, "tier": "gold"}


def test_undocumented_values_and_null_objects_pass_through(emulator: MegaEmulator) -> None:
    [lead_id] = emulator.update_leads(
        ids=[emulator.leads[0]["id"]],
        status="paused",
        source_platform="tiktok_ads",
        source_type="carrier_pigeon",
        current_stage=None,
        owner=None,
        custom_fields=CUSTOM,
    )

    result = run_sync(tap_config(emulator))

    [record] = [record for record in result.records if record["id"] == lead_id]
    assert record["status"] == "paused"
    assert record["source_platform"] == "tiktok_ads"
    assert record["source_type"] == "carrier_pigeon"
    assert record["current_stage"] is None
    assert record["owner"] is None
    assert {key: record["custom_fields"][key] for key in CUSTOM} == CUSTOM


def test_a_rerun_that_leaves_the_bookmark_still_writes_its_records(
    emulator: MegaEmulator,
) -> None:
    config = tap_config(emulator, lookback_window=0)
    first = run_sync(config)
    mark = bookmark(first.final_state)["replication_key_value"]
    tied = {
        lead["id"]
        for lead in emulator.leads
        if parse_timestamp(lead["updated_at"]) == parse_timestamp(mark)
    }

    again = run_sync(config, state=first.final_state)

    # The bookmark does not move, so no new STATE follows these records.
    assert set(again.ids) == tied
    assert bookmark(again.final_state)["replication_key_value"] == mark


def test_a_full_table_catalog_reads_everything_and_keeps_no_bookmark(
    emulator: MegaEmulator,
) -> None:
    config = tap_config(emulator, page_size=50)
    catalog = full_table_catalog(config)
    middle = sorted(lead["updated_at"] for lead in emulator.leads)[len(emulator.leads) // 2]
    state = {
        "bookmarks": {
            "leads": {
                "replication_key": "updated_at",
                "replication_key_value": normalize_timestamp(middle),
            }
        }
    }

    result = run_sync(config, state=state, catalog=catalog)

    assert sorted(result.ids) == sorted(lead["id"] for lead in emulator.leads)
    assert all("updated_since" not in request.params for request in emulator.requests)
    kept = {
        key: value for key, value in bookmark(result.final_state).items() if key != "custom_fields"
    }
    assert kept == bookmark(state), "a full table moves no bookmark"
