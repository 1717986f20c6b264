"""A run stopped early resumes from MEGA's cursor when that is safe, else from the bookmark."""

from __future__ import annotations

import datetime as dt
import time
import typing as t
from collections import Counter
from dataclasses import asdict

import pytest

from tap_mega.state.resume import (
    STATE_KEY,
    ResumePoint,
    served_at,
    walk_fingerprint,
    why_not_resume,
)
from tap_mega.testing.emulator import MegaEmulator, RateWindow
from tap_mega.timestamps import format_timestamp
from tests.helpers.cli import CliResult, run_main
from tests.helpers.sync import bookmark, tap_config

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

POINT = ResumePoint(
    cursor="abc",
    updated_since="2026-01-01T00:00:00.000000Z",
    walk="0123456789abcdef",
    served_at="2026-03-01T12:00:00.000000Z",
)
FIVE_MINUTES = dt.timedelta(minutes=5)


# -- the resume point on its own ------------------------------------------------ #


def test_a_point_survives_the_state_as_json() -> None:
    assert ResumePoint.from_state(asdict(POINT)) == POINT
    assert ResumePoint.from_state({**asdict(POINT), "updated_since": None}) is not None


@pytest.mark.parametrize(
    "saved",
    [
        None,
        "abc",
        [],
        {**asdict(POINT), "cursor": ""},
        {**asdict(POINT), "cursor": 7},
        {**asdict(POINT), "walk": None},
        {**asdict(POINT), "served_at": "yesterday"},
        {**asdict(POINT), "updated_since": "soon"},
        {**asdict(POINT), "updated_since": 5},
        {key: value for key, value in asdict(POINT).items() if key != "served_at"},
        {**asdict(POINT), "emitted": -1},
        {**asdict(POINT), "emitted": "100"},
        {**asdict(POINT), "emitted": True},
    ],
)
def test_anything_the_tap_did_not_write_is_no_point(saved: object) -> None:
    assert ResumePoint.from_state(saved) is None


def test_a_point_without_a_count_counts_from_zero() -> None:
    saved = {key: value for key, value in asdict(POINT).items() if key != "emitted"}
    point = ResumePoint.from_state(saved)
    assert point is not None
    assert point.emitted == 0


def test_the_walk_fingerprint_ignores_what_moves_and_sees_what_a_cursor_depends_on() -> None:
    params = {"sort_by": "updated_at", "sort_dir": "asc", "limit": 100, "status": "won"}
    base = walk_fingerprint(params, None)
    moving = {**params, "limit": 20, "cursor": "x", "updated_since": "2026-01-01"}
    assert walk_fingerprint(moving, None) == base
    assert walk_fingerprint({**params, "status": "lost"}, None) != base
    assert walk_fingerprint({**params, "sort_dir": "desc"}, None) != base
    assert walk_fingerprint(params, "2026-01-01") != base


def test_served_at_reads_the_date_header_in_the_canonical_form() -> None:
    assert served_at("Sun, 01 Mar 2026 12:00:00 GMT") == "2026-03-01T12:00:00.000000Z"
    assert served_at(None) is None
    assert served_at("not a date") is None


def test_why_not_resume() -> None:
    old = "2026-03-01T11:50:00.000000Z"  # 10 minutes before the page was served
    assert why_not_resume(POINT, bookmark=old, lookback=FIVE_MINUTES, walk=POINT.walk) is None
    fresh = "2026-03-01T11:58:00.000000Z"  # 2 minutes: late commits may still land
    assert "less than lookback_window old" in str(
        why_not_resume(POINT, bookmark=fresh, lookback=FIVE_MINUTES, walk=POINT.walk)
    )
    assert "changed" in str(
        why_not_resume(POINT, bookmark=old, lookback=FIVE_MINUTES, walk="another")
    )
    assert "no bookmark" in str(
        why_not_resume(POINT, bookmark=None, lookback=FIVE_MINUTES, walk=POINT.walk)
    )


# -- end to end: runs on a budget that ends mid-walk ----------------------------- #


class BudgetedEmulator(t.NamedTuple):
    emulator: MegaEmulator
    next_window: Callable[[], None]

    def config(self, **overrides: t.Any) -> dict[str, t.Any]:
        """Pages of 20, and a max_wait_seconds that stops a run when its window is used."""
        return tap_config(self.emulator, **{"page_size": 20, "max_wait_seconds": 5, **overrides})


@pytest.fixture
def budgeted() -> Iterator[Callable[..., BudgetedEmulator]]:
    """Emulators whose "hourly" window holds `requests` list requests per run."""
    started: list[MegaEmulator] = []

    def factory(n_leads: int, requests: int) -> BudgetedEmulator:
        offset = [0.0]

        def clock() -> float:
            return time.monotonic() + offset[0]

        def next_window() -> None:
            offset[0] += 601  # the window has refilled by the next scheduled run

        emu = MegaEmulator(
            n_leads=n_leads, seed=4, rate_windows=[RateWindow(requests, 600.0)], clock=clock
        ).start()
        started.append(emu)
        return BudgetedEmulator(emu, next_window)

    yield factory
    for emu in started:
        emu.stop()


def run_until_done(
    budgeted: BudgetedEmulator,
    config: dict[str, t.Any],
    tmp_path: Path,
    state: dict[str, t.Any] | None = None,
    max_runs: int = 5,
) -> list[CliResult]:
    """Scheduled runs, each from the last one's state, until one is not stopped early."""
    runs: list[CliResult] = []
    while not runs or "Stopping early" in runs[-1].stderr:
        assert len(runs) < max_runs, "no progress from run to run"
        run = run_main(config, tmp_path, state=state)
        assert run.returncode == 0, run.stderr
        runs.append(run)
        state = run.result.final_state
        budgeted.next_window()
    return runs


def test_a_run_stopped_early_goes_on_from_its_cursor_and_reads_nothing_twice(
    budgeted: Callable[..., BudgetedEmulator], tmp_path: Path
) -> None:
    setup = budgeted(n_leads=120, requests=5)
    emu, config = setup.emulator, setup.config()

    runs = run_until_done(setup, config, tmp_path)

    assert len(runs) == 2
    saved = bookmark(runs[0].result.final_state)[STATE_KEY]
    resumed = emu.requests[5]
    assert resumed.params["cursor"] == saved["cursor"]
    assert "updated_since" not in resumed.params, "the walk's own filter: it had none"
    assert "Resuming the last run's walk from the cursor it saved" in runs[1].stderr
    ids = [record["id"] for run in runs for record in run.result.records]
    assert Counter(ids) == Counter(lead["id"] for lead in emu.leads), "each lead exactly once"
    assert emu.request_count == 6, "ceil(120 / 20) list requests across both runs"
    assert bookmark(runs[1].result.final_state)[STATE_KEY] is None, "the walk is done"


def test_progress_counts_the_whole_walk_across_the_runs_that_share_it(
    budgeted: Callable[..., BudgetedEmulator], tmp_path: Path
) -> None:
    setup = budgeted(n_leads=250, requests=5)
    config = setup.config()

    runs = run_until_done(setup, config, tmp_path)

    assert len(runs) == 3
    assert "Emitted 100 of 250 leads; the state is saved" in runs[0].stderr
    assert (
        "Emitted 200 of 250 leads (100 in this run, the rest in earlier ones); "
        "the state is saved" in runs[1].stderr
    )
    assert "Progress: 250 / 250 leads (100.0%), 3 pages" in runs[2].stderr
    assert bookmark(runs[1].result.final_state)[STATE_KEY]["emitted"] == 200


def test_more_tied_leads_than_one_run_can_read_still_get_read(
    budgeted: Callable[..., BudgetedEmulator], tmp_path: Path
) -> None:
    setup = budgeted(n_leads=250, requests=2)
    emu = setup.emulator
    for lead in emu.leads:
        emu.set_updated_at(lead["id"], "2026-03-01T12:00:00.000Z")
    config = setup.config(page_size=100)

    runs = run_until_done(setup, config, tmp_path)

    assert len(runs) == 2
    assert "No progress" not in runs[0].stderr + runs[1].stderr
    ids = [record["id"] for run in runs for record in run.result.records]
    assert Counter(ids) == Counter(lead["id"] for lead in emu.leads)
    assert emu.request_count == 3


def test_a_stop_near_the_newest_changes_restarts_lookback_window_before_the_bookmark(
    budgeted: Callable[..., BudgetedEmulator], tmp_path: Path
) -> None:
    setup = budgeted(n_leads=120, requests=5)
    emu = setup.emulator
    # Eight seconds apart up to two minutes ago: the first run stops at a bookmark
    # younger than lookback_window (300 s), which covers fewer leads than a run reads.
    now = dt.datetime.now(dt.timezone.utc)
    for k, lead in enumerate(sorted(emu.leads, key=lambda lead: lead["id"])):
        stamp = now - dt.timedelta(seconds=900 - 8 * k)
        emu.set_updated_at(lead["id"], format_timestamp(stamp))
    config = setup.config()

    runs = run_until_done(setup, config, tmp_path)

    assert len(runs) == 2
    mark = bookmark(runs[0].result.final_state)["replication_key_value"]
    resumed = emu.requests[5]
    assert "cursor" not in resumed.params
    lookback_start = dt.datetime.fromisoformat(mark[:-1]) - dt.timedelta(seconds=300)
    assert resumed.params["updated_since"].startswith(lookback_start.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "less than lookback_window old" in runs[1].stderr
    ids = {record["id"] for run in runs for record in run.result.records}
    assert ids == {lead["id"] for lead in emu.leads}


def test_a_cursor_mega_refuses_falls_back_to_the_bookmark(
    budgeted: Callable[..., BudgetedEmulator], tmp_path: Path
) -> None:
    setup = budgeted(n_leads=120, requests=5)
    emu, config = setup.emulator, setup.config()
    first = run_main(config, tmp_path)
    setup.next_window()
    state = first.result.final_state
    bookmark(state)[STATE_KEY]["cursor"] = "not-a-cursor-mega-knows"

    later = run_until_done(setup, config, tmp_path, state=state)

    assert "MEGA refused the cursor the last run saved" in later[0].stderr
    assert "Invalid cursor" in later[0].stderr
    assert emu.requests[5].params["cursor"] == "not-a-cursor-mega-knows"
    assert "cursor" not in emu.requests[6].params
    assert "updated_since" in emu.requests[6].params
    ids = {record["id"] for run in (first, *later) for record in run.result.records}
    assert ids == {lead["id"] for lead in emu.leads}
    assert bookmark(later[-1].result.final_state)[STATE_KEY] is None


def test_changed_filters_do_not_reuse_the_cursor(
    budgeted: Callable[..., BudgetedEmulator], tmp_path: Path
) -> None:
    setup = budgeted(n_leads=120, requests=5)
    emu = setup.emulator
    first = run_main(setup.config(), tmp_path)
    setup.next_window()

    second = run_main(setup.config(status="won"), tmp_path, state=first.result.final_state)

    assert second.returncode == 0, second.stderr
    assert "the filters, sort or start_date changed since it was saved" in second.stderr
    assert "cursor" not in emu.requests[5].params
    assert emu.requests[5].params["status"] == "won"


def test_a_resume_point_the_tap_did_not_write_is_ignored_with_a_warning(
    emulator: MegaEmulator, tmp_path: Path
) -> None:
    state = {
        "bookmarks": {
            "leads": {
                "replication_key": "updated_at",
                "replication_key_value": "2026-01-01T00:00:00.000000Z",
                STATE_KEY: "somewhere",
            }
        }
    }

    result = run_main(tap_config(emulator, lookback_window=0), tmp_path, state=state)

    assert result.returncode == 0, result.stderr
    assert "Ignoring the state's resume_from: not a resume point this tap wrote" in (result.stderr)
    assert "cursor" not in emulator.requests[0].params
    assert len(result.result.records) == 250
