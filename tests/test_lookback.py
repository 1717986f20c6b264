"""`lookback_window`: late commits are caught, the bookmark never goes back, states resume."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from tap_mega.state.lookback import (
    DEFAULT_LOOKBACK_SECONDS,
    incremental_start,
    parse_lookback,
)
from tap_mega.timestamps import DurationError, parse_timestamp
from tests.helpers.cli import assert_one_line_failure, run_main
from tests.helpers.sync import bookmark, run_sync, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_mega.testing.emulator import MegaEmulator

DEFAULT = dt.timedelta(seconds=DEFAULT_LOOKBACK_SECONDS)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, DEFAULT_LOOKBACK_SECONDS),
        (0, 0),
        (90, 90),
        (2.5, 2.5),
        ("600", 600),
        ("PT5M", 300),
        ("pt1h30m", 5400),
        ("P1D", 86400),
        ("P1W", 604800),
        ("PT0.5S", 0.5),
        ("P1DT2H", 93600),
    ],
)
def test_lookback_accepts_seconds_and_durations(value: object, seconds: float) -> None:
    assert parse_lookback(value) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "value", [-1, "-5", "P", "PT", "P1M", "P1Y", "5 minutes", "", True, float("nan"), [], 1e300]
)
def test_lookback_refuses_anything_else_naming_the_setting(value: object) -> None:
    with pytest.raises(DurationError, match="setting `lookback_window`"):
        parse_lookback(value)


def test_lookback_never_reaches_before_start_date() -> None:
    mark = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)
    start = mark - dt.timedelta(seconds=10)
    assert incremental_start(mark, None, DEFAULT) == mark - DEFAULT
    assert incremental_start(mark, start, DEFAULT) == start
    assert incremental_start(None, start, DEFAULT) == start
    assert incremental_start(None, None, DEFAULT) is None
    # A window reaching before year 1 starts at the beginning, not with an OverflowError.
    earliest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    assert incremental_start(mark, None, dt.timedelta.max) == earliest


@pytest.mark.parametrize("setting", ["lookback_window", "reconcile_interval"])
@pytest.mark.parametrize("mode", [(), ("--discover",)], ids=["sync", "discover"])
def test_a_bad_duration_is_one_line_naming_the_setting(
    emulator: MegaEmulator, tmp_path: Path, setting: str, mode: tuple[str, ...]
) -> None:
    config = tap_config(emulator, reconcile_deletes=True, **{setting: "five minutes"})
    result = run_main(config, tmp_path, *mode)

    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"tap-mega: error: invalid settings: setting `{setting}`")
    )
    assert emulator.request_count == 0


def test_a_bookmark_that_is_not_a_timestamp_is_one_line_and_no_request(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    mark = {"replication_key": "updated_at", "replication_key_value": "yesterday"}
    done = run_main(tap_config(emulator), tmp_path, state={"bookmarks": {"leads": mark}})

    assert_one_line_failure(done.returncode, done.stderr, "bookmark", "timestamp: 'yesterday'")
    assert emulator.request_count == 0
    assert done.result.records == []


def test_late_commit_is_lost_without_lookback_and_caught_with_it(
    make_emulator: t.Callable[..., MegaEmulator],
) -> None:
    for lookback, caught in ((0, False), (None, True)):
        emulator = make_emulator(n_leads=300, seed=11)
        overrides = {} if lookback is None else {"lookback_window": lookback}
        config = tap_config(emulator, **overrides)
        first = run_sync(config)
        # A transaction stamped 2 minutes ago commits after the first sync.
        late = emulator.late_commit(count=3, seconds_before=120, seed=1)

        second = run_sync(config, state=first.final_state)

        assert (set(late) <= set(second.ids)) is caught, f"lookback={lookback}"


def test_incremental_run_starts_the_lookback_before_the_bookmark(
    emulator: MegaEmulator,
) -> None:
    first = run_sync(tap_config(emulator))
    mark = bookmark(first.final_state)["replication_key_value"]
    before = emulator.request_count

    second = run_sync(tap_config(emulator), state=first.final_state)

    [request] = emulator.requests[before:]
    since = parse_timestamp(request.params["updated_since"])
    assert since == parse_timestamp(mark) - DEFAULT
    expected = {
        lead["id"] for lead in emulator.leads if parse_timestamp(lead["updated_at"]) >= since
    }
    assert set(second.ids) == expected
    assert len(expected) > 1, "the test data must put leads inside the window"
    # Re-read leads older than the bookmark never move it back.
    assert all(bookmark(state)["replication_key_value"] == mark for state in second.states)


def test_second_read_emits_nothing_older_than_bookmark_minus_lookback(
    emulator: MegaEmulator,
) -> None:
    first = run_sync(tap_config(emulator))
    mark = parse_timestamp(bookmark(first.final_state)["replication_key_value"])

    second = run_sync(tap_config(emulator), state=first.final_state)

    assert all(parse_timestamp(r["updated_at"]) >= mark - DEFAULT for r in second.records)


def test_replaying_every_state_with_lookback_loses_nothing_and_never_regresses(
    emulator: MegaEmulator,
) -> None:
    config = tap_config(emulator, page_size=40, lookback_window="PT2H")
    window = dt.timedelta(hours=2)
    full = run_sync(config)
    everything = set(full.ids)
    checkpoints = full.checkpoints()

    for state, delivered_before in checkpoints[1:]:
        resumed = run_sync(config, state=state)
        mark = bookmark(state)["replication_key_value"]
        assert delivered_before | set(resumed.ids) == everything
        assert all(
            parse_timestamp(r["updated_at"]) >= parse_timestamp(mark) - window
            for r in resumed.records
        )
        assert all(bookmark(s)["replication_key_value"] >= mark for s in resumed.states)


def test_bookmark_in_the_future_emits_nothing_despite_lookback(
    emulator: MegaEmulator,
) -> None:
    future = "2999-01-01T00:00:00.000000Z"
    state = {
        "bookmarks": {"leads": {"replication_key": "updated_at", "replication_key_value": future}}
    }

    result = run_sync(tap_config(emulator, lookback_window="P7D"), state=state)

    assert result.records == []
    assert bookmark(result.final_state)["replication_key_value"] == future
