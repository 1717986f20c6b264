"""The doctor's budget: its arithmetic, whose requests fill the window, and what it counts."""

from __future__ import annotations

import json
import os
import re

import pytest

from tap_mega.budget.pacer import Pacer
from tap_mega.budget.progress import answer_times, seconds_for
from tap_mega.doctor.budget import Seen, first_sync_requests, first_sync_times, split_into_runs
from tap_mega.settings import Settings
from tap_mega.testing.emulator import RateWindow
from tests.helpers.cli import run_cli
from tests.helpers.doctor import DOCUMENTED, run_doctor
from tests.helpers.sync import tap_config


def documented_pacer() -> Pacer:
    """A pacer that has seen one answer on MEGA's documented minute window."""
    pacer = Pacer(max_wait=Settings.max_wait_seconds, clock=lambda: 0.0, sleep=lambda _: None)
    pacer.observe(
        200, {"RateLimit-Limit": "60", "RateLimit-Remaining": "59", "RateLimit-Reset": "60"}
    )
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

    run = run_doctor(tap_config(emulator, page_size=1), tmp_path, "--json", "--run-minutes", "0.01")

    schedule = run.line("budget", "schedule")
    assert schedule["status"] == "warning"
    assert "no max_wait_seconds cuts it into runs of 0.01 minutes" in schedule["text"]
    assert run.returncode == 0


def test_the_proxy_in_use_is_shown_without_its_password(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=5, rate_windows=[RateWindow(60, 60)])
    env = {**os.environ, "HTTP_PROXY": "http://doctor:s3cret-proxy@127.0.0.1:9", "NO_PROXY": ""}

    run = run_doctor(tap_config(emulator), tmp_path, "--json", env=env)

    proxy = run.line("connection", "proxy")
    assert proxy["text"] == "http://<redacted>@127.0.0.1:9"
    assert "s3cret-proxy" not in run.stdout + run.stderr
    assert run.line("connection", "reach")["status"] == "error"  # nothing listens there
    assert emulator.request_count == 0
    assert run.returncode == 1


def test_the_replay_starts_from_the_window_as_reported():
    pacer = documented_pacer()
    # 53 in the window by MEGA's count (a sync's, say), all gone in 58s.
    seen = Seen(limit=60, remaining=7, reset=58.0)

    times = first_sync_times(pacer, seen, 1, 50, 0.01)

    assert times[6] < 1  # the 7 left go at once
    assert 58 <= times[7] < 59  # the 8th waits for the window to refill
    assert times[-1] < 59


# --------------------------------------------------------------------------- #
# Right after a sync
# --------------------------------------------------------------------------- #
@pytest.fixture
def synced(make_emulator, tmp_path):
    """An emulator on MEGA's documented budget, right after a sync of 50 pages."""
    emulator = make_emulator(n_leads=5_000, seed=11, rate_windows=DOCUMENTED)
    config = tap_config(emulator, page_size=100)
    result = run_cli(config, tmp_path)
    assert result.returncode == 0, result.stderr
    assert emulator.request_count == 50
    return emulator, config, result.result


def test_a_syncs_requests_are_not_called_other_integrations(synced, tmp_path):
    _, config, sync = synced

    run = run_doctor(config, tmp_path, "--json", state=sync.final_state)

    others = run.line("budget", "others")
    assert others["data"]["used"] == 50
    assert others["data"]["told_apart"] is False
    text = others["text"]
    assert text.startswith("50 of 60 used by other integrations or a recent run of this tap")
    assert "MEGA's headers do not say whose" in text
    # A reserve only on the condition the user can check: no run of the tap just ended.
    assert text.index("if no run of this tap ended in the last 1m") < text.index(
        "rate_limit_reserve"
    )


def test_the_eta_waits_for_the_window_a_recent_run_left_full(synced, tmp_path):
    _, config, _ = synced

    run = run_doctor(config, tmp_path, "--json")

    window = run.line("budget", "window")["data"]
    assert window["remaining"] == 60 - 50 - 2
    assert run.line("budget", "first sync")["data"]["requests"] == 50
    # 8 go at once; the other 42 wait until the sync's requests have left the window.
    duration = run.line("budget", "duration")["data"]["seconds"]
    assert window["reset"] - 2 <= duration <= window["reset"] + 2
    assert duration > 50


def test_a_run_the_state_says_just_stopped_is_told_as_the_taps(synced, tmp_path):
    _, config, sync = synced
    # The STATE a run stopped after page 25 would have left: its last page's time.
    mid_walk = sync.states[25]
    assert mid_walk["bookmarks"]["leads"]["resume_from"]["served_at"]

    run = run_doctor(config, tmp_path, "--json", state=mid_walk)

    others = run.line("budget", "others")
    assert others["status"] == "ok"
    assert others["data"]["used"] == 50
    assert "most likely by the run of this tap the state comes from" in others["text"]
    assert "rate_limit_reserve" not in others["text"]
    assert 0 <= others["data"]["tap_run_seconds_ago"] < 60


# --------------------------------------------------------------------------- #
# Requests the doctor caused: Meltano's discovery before it
# --------------------------------------------------------------------------- #
def meltano_env(tmp_path, *, cached=False):
    """The variables `meltano invoke tap-mega:doctor` gives the doctor (and discovery)."""
    run_dir = tmp_path / ".meltano" / "run" / "tap-mega"
    run_dir.mkdir(parents=True)
    if cached:
        (run_dir / "tap.properties.cache_key").write_text("key")
    return {
        **os.environ,
        "MELTANO_EXTRACTOR_NAME": "tap-mega",
        "SINGER_SDK_LOG_CONFIG": str(run_dir / "tap.singer_sdk_logging.json"),
    }


def header_requests(stdout):
    return re.match(r"tap-mega-doctor \S+: \S+ \((.*)\)$", stdout.splitlines()[0]).group(1)


def test_meltanos_discovery_before_the_doctor_is_counted_as_the_doctors(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=3, rate_windows=DOCUMENTED)
    # No custom_fields_schema: discovery samples the leads, one request.
    config = {"token": emulator.token, "customer_id": emulator.customer_id, "api_url": emulator.url}
    env = meltano_env(tmp_path)
    # What `meltano invoke tap-mega:doctor` does: discovery first, then the command.
    discovery = run_cli(config, tmp_path, "--discover", env=env)
    assert discovery.returncode == 0, discovery.stderr
    assert emulator.request_count == 1

    run = run_doctor(config, tmp_path, env=env)

    assert emulator.request_count == 3
    assert header_requests(run.stdout) == (
        "3 requests: 2 by the doctor, 1 by Meltano's discovery before it"
    )
    assert re.search(r"others +0 of 60 used", run.stdout), run.stdout


def test_a_cacheable_catalog_makes_the_count_uncertain_and_says_so(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=3, rate_windows=DOCUMENTED)
    config = {"token": emulator.token, "customer_id": emulator.customer_id, "api_url": emulator.url}

    run = run_doctor(config, tmp_path, env=meltano_env(tmp_path, cached=True))

    assert header_requests(run.stdout) == (
        "2 requests: 2 by the doctor; 1 more by Meltano's discovery before it, "
        "unless its catalog was cached"
    )
    assert emulator.request_count == 2


def test_with_an_argument_of_the_users_meltano_runs_no_discovery(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=3, rate_windows=DOCUMENTED)
    config = {"token": emulator.token, "customer_id": emulator.customer_id, "api_url": emulator.url}

    run = run_doctor(config, tmp_path, "--json", env=meltano_env(tmp_path))

    assert json.loads(run.stdout)["requests"] == emulator.request_count == 2
    assert json.loads(run.stdout)["requests_caused"] == 0
