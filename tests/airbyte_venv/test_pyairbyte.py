"""PyAirbyte as the real client: check, read into its default DuckDB cache, read again."""

from __future__ import annotations

import json
import typing as t

import airbyte as ab
import pytest

from tap_mega.timestamps import normalize_timestamp
from tests.helpers.airbyte_venv import SOURCE_MEGA
from tests.helpers.sync import tap_config

if t.TYPE_CHECKING:
    from tap_mega.testing.emulator import MegaEmulator


def cached_leads(cache: t.Any) -> dict[str, dict[str, t.Any]]:
    """The leads table as PyAirbyte left it, by id; duplicate ids fail the test."""
    frame = cache.get_pandas_dataframe("leads")
    ids = list(frame["id"])
    assert len(ids) == len(set(ids)), "duplicate ids in the cache"
    return {row["id"]: row for row in frame.to_dict("records")}


def cached_instant(value: t.Any) -> str:
    """A cached timestamp (naive UTC in DuckDB) in the tap's canonical form."""
    return normalize_timestamp(f"{value.isoformat()}+00:00")


def assert_cache_is(cached: dict[str, dict[str, t.Any]], emulator: MegaEmulator) -> None:
    """Every lead MEGA holds is in the cache, with its current values, and nothing else."""
    truth = {lead["id"]: lead for lead in emulator.leads}
    assert set(cached) == set(truth)
    for lead_id, lead in truth.items():
        row = cached[lead_id]
        assert cached_instant(row["updated_at"]) == normalize_timestamp(lead["updated_at"])
        assert row["status"] == lead["status"]
        assert row["interaction_count"] == lead["interaction_count"]
        assert json.loads(row["custom_fields"]) == lead["custom_fields"]


def get_source(emulator: MegaEmulator) -> t.Any:
    return ab.get_source(
        "source-mega",
        # No lookback: the second read then starts exactly at the bookmark passed back.
        config=tap_config(emulator, lookback_window=0),
        local_executable=SOURCE_MEGA,
        streams=["leads"],
    )


def test_check_passes_against_the_emulator(emulator: MegaEmulator) -> None:
    get_source(emulator).check()

    [request] = emulator.requests
    assert request.params["limit"] == "1"


def test_check_with_a_wrong_token_fails_with_the_reason(emulator: MegaEmulator) -> None:
    source = ab.get_source(
        "source-mega",
        config=tap_config(emulator, token="mega_" + "0" * 64),
        local_executable=SOURCE_MEGA,
    )

    with pytest.raises(Exception, match="401") as failure:
        source.check()
    assert "mega_" + "0" * 64 not in str(failure.value)


def test_two_reads_keep_the_cache_equal_to_mega(emulator: MegaEmulator) -> None:
    source = get_source(emulator)
    cache = ab.get_default_cache()

    source.read(cache=cache)

    assert_cache_is(cached_leads(cache), emulator)
    bookmark = normalize_timestamp(max(lead["updated_at"] for lead in emulator.leads))
    first_read_requests = emulator.request_count

    changed = emulator.update_leads(count=5, seed=3, status="won", custom_fields={"budget": 1})
    inserted = [lead["id"] for lead in emulator.insert_leads(2, seed=4)]
    source.read(cache=cache)

    second = emulator.requests[first_read_requests:]
    assert second, "the second read made no request"
    assert second[0].params["updated_since"] == bookmark, "PyAirbyte passed the state back"
    cached = cached_leads(cache)
    assert_cache_is(cached, emulator)
    assert all(cached[i]["status"] == "won" for i in changed)
    assert set(inserted) <= set(cached)
