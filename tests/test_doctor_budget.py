"""The doctor's schedule arithmetic, and the Connection lines a proxy changes."""

from __future__ import annotations

import os

from tap_mega.budget.pacer import Pacer
from tap_mega.budget.progress import answer_times, seconds_for
from tap_mega.doctor.budget import first_sync_requests, split_into_runs
from tap_mega.testing.emulator import RateWindow
from tests.conftest import tap_config
from tests.test_doctor import run_doctor


def documented_pacer() -> Pacer:
    """A pacer that has seen one answer on MEGA's documented minute window."""
    pacer = Pacer(clock=lambda: 0.0, sleep=lambda _: None)
    pacer.observe(200, {"RateLimit-Limit": "60", "RateLimit-Remaining": "59",
                        "RateLimit-Reset": "60"})
    return pacer


def test_answer_times_are_the_eta_replay():
    pacer = documented_pacer()

    times = answer_times(pacer, 2500, 0.01)

    assert times[-1] == seconds_for(pacer, 2500, 0.01)
    assert times == sorted(times)
    assert answer_times(pacer, 0, 0.01) == []
    # 59 more fit the first minute; the 60th waits for the first answer to leave it.
    assert times[58] < 1
    assert times[59] > 59


def test_runs_are_cut_at_the_hourly_waits():
    times = answer_times(documented_pacer(), 2500, 0.01)

    runs = split_into_runs(times, 0.01, 30 * 60)

    assert runs is not None
    assert runs.count == 3
    assert 60 <= runs.max_wait < 40 * 60
    assert 15 * 60 < runs.longest_run < 18 * 60
    assert 55 * 60 < runs.interval <= 60 * 60


def test_short_runs_are_cut_at_the_minute_waits_too():
    times = answer_times(documented_pacer(), 2500, 0.01)

    runs = split_into_runs(times, 0.01, 5 * 60)

    assert runs is not None
    assert runs.max_wait < 59  # below the minute window's waits, so they end runs
    assert runs.count == 43  # 2,500 requests, 60 (or 59) a run
    assert runs.interval <= 61


def test_no_cut_without_waits():
    times = [0.01 * n for n in range(1, 1001)]

    assert split_into_runs(times, 0.01, 5.0) is None


def test_first_sync_requests():
    assert [first_sync_requests(n, 100) for n in (0, 1, 100, 101, 250_000)] == [1, 1, 1, 2, 2500]


def test_a_sync_no_wait_can_split_is_a_warning(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=3000, seed=2, rate_windows=[RateWindow(100_000, 60)])

    run = run_doctor(tap_config(emulator, page_size=1), tmp_path, "--json", "--run-minutes",
                     "0.01")

    schedule = run.line("budget", "schedule")
    assert schedule["status"] == "warning"
    assert "no max_wait_seconds cuts it into runs of 0.01 minutes" in schedule["text"]
    assert run.returncode == 0


def test_the_proxy_in_use_is_shown_without_its_password(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=5, rate_windows=[RateWindow(60, 60)])
    env = {**os.environ, "HTTP_PROXY": "http://doctor:s3cret-proxy@127.0.0.1:9",
           "NO_PROXY": ""}

    run = run_doctor(tap_config(emulator), tmp_path, "--json", env=env)

    proxy = run.line("connection", "proxy")
    assert proxy["text"] == "http://<redacted>@127.0.0.1:9"
    assert "s3cret-proxy" not in run.stdout + run.stderr
    assert run.line("connection", "reach")["status"] == "error"  # nothing listens there
    assert emulator.request_count == 0
    assert run.returncode == 1
