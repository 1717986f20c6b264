"""Every wire fault and data spelling the emulator plays, end to end over a real socket.

The sync completes with every lead exactly as MEGA sent it, the bookmark is
the latest instant in canonical form, and a second run starts at it.
"""

from __future__ import annotations

import typing as t

import pytest

from tap_mega.api.client import RETRY_MAX_TRIES
from tap_mega.testing.emulator import Fault, MegaEmulator
from tap_mega.timestamps import normalize_timestamp
from tests.helpers.cli import CliResult, run_main
from tests.helpers.sync import bookmark, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path


def retry_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Retrying in " in line]


def assert_complete(result: CliResult, served: list[dict[str, t.Any]]) -> None:
    """Every lead, as served; the bookmark at the latest instant, canonical."""
    assert result.returncode == 0, result.stderr
    records = {record["id"]: record for record in result.result.records}
    assert records == {lead["id"]: lead for lead in served}
    latest = max(normalize_timestamp(lead["updated_at"]) for lead in served)
    assert bookmark(result.result.final_state)["replication_key_value"] == latest


def assert_second_run_starts_at_the_bookmark(
    emu: MegaEmulator, config: dict[str, t.Any], first: CliResult, tmp_path: Path
) -> None:
    mark = bookmark(first.result.final_state)["replication_key_value"]
    before = emu.request_count

    # No lookback_window, so the start is the bookmark itself.
    second = run_main({**config, "lookback_window": 0}, tmp_path, state=first.result.final_state)

    assert second.returncode == 0, second.stderr
    asked = emu.requests[before]
    assert normalize_timestamp(asked.params["updated_since"]) == mark
    assert all(normalize_timestamp(r["updated_at"]) >= mark for r in second.result.records)


# (fault, what the retry's WARNING names)
BAD_BODIES = {
    "not-json": (Fault("not_json", at_request=2), "a 200 whose body is not JSON"),
    "cut-json": (Fault("malformed", at_request=2), "a 200 whose body is not JSON"),
    "short-body": (Fault("short_body", at_request=2), "a body cut short"),
    "reset-mid-body": (Fault("reset", at_request=2), "ChunkedEncodingError"),
    "html-502": (Fault("status", at_request=2, status=502, html=True), "502"),
    "html-404-mid-walk": (
        Fault("status", at_request=2, status=404, html=True),
        "front end answered 404",
    ),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_a_bad_answer_is_retried_like_a_5xx_and_the_sync_completes(
    tmp_path: Path, name: str
) -> None:
    fault, reason = BAD_BODIES[name]
    with MegaEmulator(n_leads=250, seed=4, rate_windows=[]) as emu:
        emu.add_fault(fault)
        config = tap_config(emu, page_size=100)
        result = run_main(config, tmp_path)
        served = emu.leads
        requests = emu.request_count

    assert_complete(result, served)
    assert requests == 3 + 1, "three pages and one retry"
    [line] = retry_lines(result.stderr)
    assert "WARNING" in line
    assert reason in line


@pytest.mark.parametrize("kind", ["not_json", "malformed"])
def test_a_body_that_stays_unreadable_ends_in_one_line_after_every_try(
    tmp_path: Path, kind: str
) -> None:
    with MegaEmulator(n_leads=250, seed=4, rate_windows=[]) as emu:
        emu.add_fault(Fault(kind, at_request=2, count=RETRY_MAX_TRIES))
        result = run_main(tap_config(emu, page_size=100), tmp_path)
        requests = emu.request_count

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("tap-mega: error:")]
    assert errors == [
        "tap-mega: error: MEGA returned a 200 whose body is not JSON for GET /api/agents/crm/leads"
    ]
    assert requests == 1 + RETRY_MAX_TRIES
    assert len(retry_lines(result.stderr)) == RETRY_MAX_TRIES - 1
    assert "Traceback" not in result.stderr


def test_a_front_ends_404_on_the_first_request_is_one_line_at_once(tmp_path: Path) -> None:
    # Before any page came from this URL, an HTML 404 means a wrong api_url.
    with MegaEmulator(n_leads=20, seed=4, rate_windows=[]) as emu:
        emu.add_fault(Fault("status", at_request=1, status=404, html=True))
        result = run_main(tap_config(emu), tmp_path)
        requests = emu.request_count

    assert result.returncode == 1
    assert requests == 1
    assert "404" in result.stderr.strip().splitlines()[-1]


WIRE_READINGS: dict[str, dict[str, t.Any]] = {
    "gzip": {"gzip": True},
    "chunked": {"chunked": True},
    "gzip-chunked-cut-short": {"gzip": True, "chunked": True},
}


@pytest.mark.parametrize("name", list(WIRE_READINGS))
def test_compressed_and_chunked_answers(tmp_path: Path, name: str) -> None:
    with MegaEmulator(n_leads=250, seed=5, rate_windows=[], **WIRE_READINGS[name]) as emu:
        if name.endswith("cut-short"):
            emu.add_fault(Fault("short_body", at_request=2))
        config = tap_config(emu, page_size=100)
        result = run_main(config, tmp_path)
        served = emu.leads
        assert_complete(result, served)
        assert_second_run_starts_at_the_bookmark(emu, config, result, tmp_path)


DATA_READINGS: dict[str, dict[str, t.Any]] = {
    "timestamps-at-an-offset": {"timestamps": "offset"},
    "timestamps-without-a-fraction": {"timestamps": "seconds"},
    "timestamps-with-microseconds": {"timestamps": "micros"},
    "cursors-with-plus-slash-equals": {"cursor_alphabet": "standard"},
    "trailing-empty-page": {"trailing_empty_page": True},
}


@pytest.mark.parametrize("name", list(DATA_READINGS))
def test_every_lead_as_mega_spelled_it_and_a_canonical_bookmark(tmp_path: Path, name: str) -> None:
    with MegaEmulator(n_leads=200, seed=6, rate_windows=[], **DATA_READINGS[name]) as emu:
        config = tap_config(emu, page_size=50)
        result = run_main(config, tmp_path)
        served = emu.leads
        pages = emu.request_count
        assert_complete(result, served)
        assert_second_run_starts_at_the_bookmark(emu, config, result, tmp_path)

    expected_pages = 4 + (name == "trailing-empty-page")
    assert pages == expected_pages


def test_a_capped_limit_is_noticed_and_the_walk_goes_on(tmp_path: Path) -> None:
    with MegaEmulator(
        n_leads=200, seed=6, rate_windows=[], limit_above_max="cap", max_limit=40
    ) as emu:
        result = run_main(tap_config(emu, page_size=100), tmp_path)
        served = emu.leads
        pages = emu.request_count

    assert_complete(result, served)
    assert pages == 5
    assert "MEGA serves at most 40 leads a page (page_size is 100)" in result.stderr


def test_leads_deleted_during_the_walk(tmp_path: Path) -> None:
    with MegaEmulator(n_leads=300, seed=7, rate_windows=[], deletions=(7, 2)) as emu:
        before = {lead["id"]: lead for lead in emu.leads}
        result = run_main(tap_config(emu, page_size=50), tmp_path)
        after = {lead["id"] for lead in emu.leads}

    assert result.returncode == 0, result.stderr
    records = {record["id"]: record for record in result.result.records}
    assert after <= set(records), "every lead still there was read"
    assert all(record == before[lead_id] for lead_id, record in records.items())
    assert len(after) < len(records) < len(before), "some went before they were read"
