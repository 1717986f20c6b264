"""Rate limits end to end: the tap against the emulator's windows, on a real clock.

Windows are a few requests per second, so a multi-window sync takes seconds.
"""

from __future__ import annotations

import functools
import os
import re
import time
import typing as t

from tap_mega.testing.emulator import Fault, MegaEmulator, RateWindow
from tap_mega.timestamps import normalize_timestamp
from tests.helpers.cli import CliResult, run_cli
from tests.helpers.sync import bookmark, tap_config

if t.TYPE_CHECKING:
    from pathlib import Path

# Progress lines after every page instead of every 30 s (and the real retry waits:
# this prelude replaces run_cli's default fast retries).
PROGRESS_EVERY_PAGE = (
    "from tap_mega.streams.leads import LeadsStream; LeadsStream.progress_interval_seconds = 0; "
)
run_with_progress = functools.partial(run_cli, prelude=PROGRESS_EVERY_PAGE)


def progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Progress: " in line]


def seconds(text: str) -> float:
    """`1h 2m`, `3s` -> seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", text))


def test_multi_window_sync_sends_no_request_into_a_429(tmp_path: Path) -> None:
    windows = [RateWindow(10, 1.0), RateWindow(20, 3.0)]
    with MegaEmulator(n_leads=400, seed=3, rate_windows=windows) as emu:
        started = time.monotonic()
        # DEBUG: how long each wait is depends on the machine's load, and waits
        # under a second are logged at DEBUG only.
        result = run_with_progress(
            tap_config(emu, page_size=10),
            tmp_path,
            env={**os.environ, "TAP_MEGA_LOGLEVEL": "DEBUG"},
        )
        elapsed = time.monotonic() - started
        leads = emu.leads
        assert result.returncode == 0, result.stderr
        assert emu.rate_limited_count == 0
        assert emu.request_count == 40  # exactly one request per page
    assert sorted(result.result.ids) == sorted(lead["id"] for lead in leads)
    # 40 requests at 20 per 3 s: the second 20 cannot start before 3 s.
    assert elapsed >= 3.0
    assert "Rate limit: waiting" in result.stderr
    assert "because the 20/3s window is used up" in result.stderr


def test_progress_lines_count_up_to_the_total_with_a_budget_aware_eta(tmp_path: Path) -> None:
    windows = [RateWindow(10, 1.0), RateWindow(20, 3.0)]
    with MegaEmulator(n_leads=300, seed=4, rate_windows=windows) as emu:
        result = run_with_progress(tap_config(emu, page_size=10), tmp_path)
    assert result.returncode == 0, result.stderr

    lines = progress_lines(result.stderr)
    assert len(lines) == 30 + 1  # one per page here, and the closing line
    assert "Progress: 10 / 300 leads (3.3%), 1 pages, 1 requests" in lines[0]
    assert "Progress: 300 / 300 leads (100.0%), 30 pages, 30 requests" in lines[-1]
    assert "done in" in lines[-1]
    # After the first page, 29 requests remain at 10 a second: the ETA must know
    # it needs at least 2 s, where the pace so far (milliseconds a page) says ~0.
    first_eta = seconds(lines[0].split("ETA ")[1])
    assert 2 <= first_eta <= 10
    etas = [seconds(line.split("ETA ")[1]) for line in lines[:-1]]
    assert etas[-1] <= 1


def test_surprise_429_is_waited_out_and_the_data_is_complete(tmp_path: Path) -> None:
    with MegaEmulator(n_leads=250, seed=5, rate_windows=[RateWindow(100, 60.0)]) as emu:
        emu.add_fault(Fault("rate_limit", at_request=2, retry_after=1))
        result = run_with_progress(tap_config(emu, page_size=50), tmp_path)
        leads = emu.leads
        assert emu.rate_limited_count == 1
    assert result.returncode == 0, result.stderr
    assert sorted(result.result.ids) == sorted(lead["id"] for lead in leads)
    assert "MEGA rate limit reached (429): waiting" in result.stderr
    assert "(1 answered 429)" in progress_lines(result.stderr)[-1]


def test_budget_longer_than_max_wait_ends_cleanly_and_the_next_run_resumes(
    tmp_path: Path,
) -> None:
    offset = [0.0]

    def clock() -> float:
        return time.monotonic() + offset[0]

    windows = [RateWindow(5, 600.0)]  # an "hourly" window of 5 requests
    with MegaEmulator(n_leads=120, seed=6, rate_windows=windows, clock=clock) as emu:
        config = tap_config(emu, page_size=20, max_wait_seconds=5)
        runs: list[CliResult] = []
        state = None
        while not runs or "Stopping early" in runs[-1].stderr:
            assert len(runs) < 4, "no progress from run to run"
            run = run_with_progress(config, tmp_path, state=state)
            runs.append(run)
            assert run.returncode == 0, run.stderr
            state = run.result.final_state
            offset[0] += 601  # the window has refilled by the next scheduled run
        leads = emu.leads
        assert emu.rate_limited_count == 0

    first = runs[0].result
    assert len(runs) == 2
    assert len(first.records) == 100
    assert "Stopping early: the next request would wait" in runs[0].stderr
    assert "longer than max_wait_seconds=5" in runs[0].stderr
    assert "Emitted 100 of 120 leads; the state is saved and the next run resumes" in (
        runs[0].stderr
    )
    # The saved state is final (no progress markers) and points at the last lead emitted.
    final = bookmark(first.final_state)
    assert "progress_markers" not in final
    assert final["replication_key_value"] == normalize_timestamp(first.records[-1]["updated_at"])
    # Nothing lost; the second run re-reads only leads tied with the bookmark
    # (`updated_since` is inclusive), and its final state is at the newest lead.
    emitted = [record for run in runs for record in run.result.records]
    assert {record["id"] for record in emitted} == {lead["id"] for lead in leads}
    seen: set[str] = set()
    for record in emitted:
        if record["id"] in seen:
            assert normalize_timestamp(record["updated_at"]) == final["replication_key_value"]
        seen.add(record["id"])
    newest = max(normalize_timestamp(record["updated_at"]) for record in emitted)
    assert bookmark(runs[-1].result.final_state)["replication_key_value"] == newest


def test_a_stopped_run_that_cannot_pass_its_bookmark_says_so(tmp_path: Path) -> None:
    offset = [0.0]

    def clock() -> float:
        return time.monotonic() + offset[0]

    tied = "2026-03-01T12:00:00.000Z"
    windows = [RateWindow(2, 600.0)]  # two pages a run, fewer than the tied leads fill
    with MegaEmulator(n_leads=250, seed=8, rate_windows=windows, clock=clock) as emu:
        for lead in emu.leads:
            emu.set_updated_at(lead["id"], tied)
        config = tap_config(emu, page_size=100, max_wait_seconds=5)
        state = {
            "bookmarks": {"leads": {"replication_key": "updated_at", "replication_key_value": tied}}
        }
        stuck = run_with_progress(config, tmp_path, state=state)
        offset[0] += 601
        moving = run_with_progress(config, tmp_path)  # no bookmark yet: its first page moves it

    assert stuck.returncode == 0, stuck.stderr
    assert len(stuck.result.records) == 200
    assert bookmark(stuck.result.final_state)["replication_key_value"] == normalize_timestamp(tied)
    assert "No progress: this run stopped before reading past the bookmark it started from" in (
        stuck.stderr
    )
    assert "raise max_wait_seconds" in stuck.stderr
    assert moving.returncode == 0, moving.stderr
    assert "Stopping early" in moving.stderr
    assert "No progress" not in moving.stderr


def test_reserve_keeps_requests_free_and_a_reserve_too_large_is_one_line(
    tmp_path: Path,
) -> None:
    with MegaEmulator(n_leads=200, seed=8, rate_windows=[RateWindow(10, 1.0)]) as emu:
        started = time.monotonic()
        kept = run_with_progress(tap_config(emu, page_size=10, rate_limit_reserve=4), tmp_path)
        elapsed = time.monotonic() - started
        assert kept.returncode == 0, kept.stderr
        assert emu.rate_limited_count == 0
        assert len(kept.result.records) == 200
    # 6 of every 10 slots a second: the 19th and 20th requests go out after 3 s,
    # where using the whole window would have taken 1 s.
    assert elapsed >= 3.0

    with MegaEmulator(n_leads=20, seed=8, rate_windows=[RateWindow(10, 1.0)]) as emu:
        refused = run_with_progress(tap_config(emu, page_size=5, rate_limit_reserve=10), tmp_path)
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith("tap-mega: error: rate_limit_reserve (10) leaves nothing")
    )
