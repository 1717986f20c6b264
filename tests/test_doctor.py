"""`tap-mega-doctor` as a user runs it: its own process, the emulator over a real socket.

What is asserted is what a user sees: the report's lines (text and `--json`),
the exit code, stderr, and how many requests reached MEGA.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import requests

from tap_mega.budget.pacer import Pacer
from tap_mega.budget.progress import seconds_for
from tap_mega.settings import Settings
from tap_mega.testing.emulator import LEADS_PATH, MegaEmulator, RateWindow
from tap_mega.timestamps import normalize_timestamp, parse_timestamp
from tests.helpers.doctor import DOCTOR_MAIN, DOCUMENTED, leads_state, run_doctor
from tests.helpers.sync import tap_config


def count_since(emulator: MegaEmulator, since: str) -> int:
    start = parse_timestamp(since)
    return sum(parse_timestamp(lead["updated_at"]) >= start for lead in emulator.leads)


# --------------------------------------------------------------------------- #
# The report
# --------------------------------------------------------------------------- #
def test_a_healthy_account_is_all_ok_in_both_forms(make_emulator, tmp_path):
    emulators = [make_emulator(n_leads=250, seed=3, rate_windows=DOCUMENTED) for _ in range(2)]

    text = run_doctor(tap_config(emulators[0]), tmp_path)
    as_json = run_doctor(tap_config(emulators[1]), tmp_path, "--json")

    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.rstrip().endswith("Result: all ok (exit 0)")
    for section in ("Connection", "Account", "Leads", "Budget", "Assumptions"):
        assert f"\n{section}\n" in text.stdout
    assert as_json.returncode == 0
    report = as_json.report
    assert (report["exit_code"], report["summary"]) == (0, "all ok")
    # The same lines in both forms (timings and ports aside, which differ by run).
    timed = {"url", "round trip", "duration", "clock"}
    for lines in report["sections"].values():
        for line in lines:
            shown = f"{line['status']:<11}{line['check']:<15}"
            if line["check"] not in timed:
                shown += line["text"]
            assert shown in text.stdout
    assert as_json.line("leads", "matching")["data"]["total"] == 250
    assert as_json.line("account", "credentials")["status"] == "ok"
    assert text.stderr == ""


@pytest.mark.parametrize(
    ("n_leads", "settings", "bookmarked", "expected_requests"),
    [
        (250, {}, False, 2),
        (250, {"start_date": "2026-01-01T00:00:00Z"}, False, 3),
        (250, {}, True, 3),
        (250, {"start_date": "2025-01-01T00:00:00Z"}, True, 3),
        (1, {"start_date": "2025-01-01T00:00:00Z"}, True, 3),
        (0, {"start_date": "2025-01-01T00:00:00Z"}, True, 3),
        (0, {}, False, 1),
    ],
    ids=["plain", "start_date", "state", "start_date+state", "one lead", "empty", "empty-plain"],
)
def test_never_more_than_three_requests(  # noqa: PLR0917 - pytest passes parameters by name
    make_emulator, tmp_path, n_leads, settings, bookmarked, expected_requests
):
    emulator = make_emulator(n_leads=n_leads, seed=4, rate_windows=DOCUMENTED)
    middle = emulator.leads[len(emulator.leads) // 2]["updated_at"] if n_leads else None
    state = leads_state(middle or "2026-02-01T00:00:00.000Z") if bookmarked else None

    run = run_doctor(tap_config(emulator, **settings), tmp_path, "--json", state=state)

    assert emulator.request_count == expected_requests <= 3, run.stdout
    assert run.report["requests"] == emulator.request_count
    assert all(r.params["limit"] == "1" for r in emulator.requests)


def test_no_custom_field_sample_without_the_setting(make_emulator, tmp_path):
    """A user's config seldom has custom_fields_schema: the doctor must not sample then.

    A sync without a catalog samples the custom fields first (one more request, with
    a sync's retries); the doctor keeps to its own three requests.
    """
    emulator = make_emulator(n_leads=250, seed=4, rate_windows=DOCUMENTED)
    config = tap_config(emulator)
    del config["custom_fields_schema"]

    run = run_doctor(config, tmp_path, "--json")

    assert emulator.request_count == 2, run.stdout
    assert all(r.params["limit"] == "1" for r in emulator.requests)


def test_counts_from_start_date_and_bookmark_and_what_was_skipped(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=5, rate_windows=DOCUMENTED)
    leads = emulator.leads
    start_date = normalize_timestamp(leads[50]["updated_at"])
    bookmark = leads[200]["updated_at"]
    config = tap_config(emulator, start_date=start_date, lookback_window=0)

    run = run_doctor(config, tmp_path, "--json", state=leads_state(bookmark))

    assert run.line("leads", "start_date")["data"]["total"] == count_since(emulator, start_date)
    assert run.line("leads", "bookmark")["data"]["total"] == count_since(emulator, bookmark)
    skipped = run.line("leads", "matching")
    assert skipped["status"] == "skipped"
    assert "no request left of the three" in skipped["text"]
    # The first sync is the one from start_date: its requests and the sync's agree.
    assert run.line("budget", "first sync")["data"]["requests"] == math.ceil(
        count_since(emulator, start_date) / 100
    )
    assert [r.params.get("updated_since") for r in emulator.requests] == [
        normalize_timestamp(start_date),
        normalize_timestamp(start_date),
        normalize_timestamp(bookmark),
    ]


def test_a_bookmark_before_start_date_is_not_counted_twice(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=5, rate_windows=DOCUMENTED)
    start_date = normalize_timestamp(emulator.leads[100]["updated_at"])
    old_bookmark = emulator.leads[10]["updated_at"]

    run = run_doctor(
        tap_config(emulator, start_date=start_date),
        tmp_path,
        "--json",
        state=leads_state(old_bookmark),
    )

    bookmark = run.line("leads", "bookmark")
    assert bookmark["status"] == "skipped"
    assert "same count as the first sync" in bookmark["text"]
    assert run.line("leads", "matching")["data"]["total"] == 250
    assert emulator.request_count == 3


def test_filters_are_the_taps(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=6, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator, status="won"), tmp_path, "--json")

    won = sum(lead["status"] == "won" for lead in emulator.leads)
    assert run.line("leads", "matching")["data"]["total"] == won
    assert "status=won" in run.line("leads", "matching")["text"]
    assert {r.params["status"] for r in emulator.requests} == {"won"}


# --------------------------------------------------------------------------- #
# Budget
# --------------------------------------------------------------------------- #
def replayed_eta(requests_before: int, needed: int, per_request: float) -> float:
    """The pacer's own ETA after `requests_before` answered requests on the documented window."""
    clock = [0.0]
    pacer = Pacer(max_wait=Settings.max_wait_seconds, clock=lambda: clock[0], sleep=lambda _: None)
    for sent in range(1, requests_before + 1):
        pacer.observe(
            200,
            {
                "RateLimit-Limit": "60",
                "RateLimit-Remaining": str(60 - sent),
                "RateLimit-Reset": "60",
            },
        )
        clock[0] += per_request
    clock[0] -= per_request
    return seconds_for(pacer, needed, per_request)


@pytest.mark.parametrize(
    ("n_leads", "low", "high"),
    [(250, 0, 5), (25_000, 3.5 * 60, 4.5 * 60), (250_000, 2 * 3600 + 5 * 60, 2 * 3600 + 12 * 60)],
    ids=["250", "25,000", "250,000"],
)
def test_first_sync_eta_is_the_pacers(make_emulator, tmp_path, n_leads, low, high):
    emulator = make_emulator(n_leads=n_leads, seed=8, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator), tmp_path, "--json")

    needed = math.ceil(n_leads / 100)
    assert run.line("budget", "first sync")["data"]["requests"] == needed
    duration = run.line("budget", "duration")["data"]
    expected = replayed_eta(run.report["requests"], needed, duration["seconds_per_request"])
    assert duration["seconds"] == pytest.approx(expected, abs=1.0)
    # Under the documented 60/1m + 1,000/1h: the hourly window bounds a large sync.
    assert low <= duration["seconds"] <= high
    assert duration["budget"] == "60/1m + 1,000/1h budget"


def test_runs_of_half_an_hour_cut_at_the_hourly_waits(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250_000, seed=8, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator), tmp_path, "--json", "--run-minutes", "30")

    schedule = run.line("budget", "schedule")
    assert schedule["status"] == "ok"
    # 2,500 requests, 1,000 an hour: three runs of about 17 minutes, an hour apart.
    assert schedule["data"]["runs"] == 3
    assert schedule["data"]["every_minutes"] == 60
    assert 60 <= schedule["data"]["max_wait_seconds"] < 40 * 60
    assert 15 * 60 <= schedule["data"]["longest_run_seconds"] <= 30 * 60


def test_a_sync_that_fits_in_one_run_keeps_max_wait_seconds(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=2_500, seed=8, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator, max_wait_seconds=900), tmp_path, "--json")

    schedule = run.line("budget", "schedule")
    assert (schedule["data"]["runs"], schedule["data"]["max_wait_seconds"]) == (1, 900)


def test_other_integrations_use_is_reported_with_a_reserve_to_set(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=3, rate_windows=DOCUMENTED)
    headers = {"Authorization": f"Bearer {emulator.token}", "x-customer-id": emulator.customer_id}
    for _ in range(20):  # another integration on the same token
        requests.get(emulator.url + LEADS_PATH, headers=headers, timeout=10).raise_for_status()

    run = run_doctor(tap_config(emulator), tmp_path, "--json")

    others = run.line("budget", "others")
    assert others["status"] == "warning"
    assert others["data"]["used"] == 20
    assert "rate_limit_reserve to about 20" in others["text"]
    assert run.returncode == 0
    assert run.line("budget", "window")["data"]["remaining"] == 60 - 20 - 2


def test_a_used_up_budget_is_a_warning_and_no_request_is_wasted(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=250, seed=3, rate_windows=[RateWindow(3, 60)])
    headers = {"Authorization": f"Bearer {emulator.token}", "x-customer-id": emulator.customer_id}
    for _ in range(2):
        requests.get(emulator.url + LEADS_PATH, headers=headers, timeout=10).raise_for_status()

    run = run_doctor(tap_config(emulator), tmp_path, "--json")

    # The first page took the last slot; the doctor waits for nothing and says so.
    assert emulator.request_count == 3
    assert run.returncode == 0, run.stdout
    assert run.line("leads", "matching")["data"]["total"] == 250
    now = run.line("budget", "now")
    assert now["status"] == "warning"
    assert "budget is used up for now" in now["text"]
    assert run.line("assumptions", "cursor")["status"] == "skipped"


# --------------------------------------------------------------------------- #
# Account, settings, secrets
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"token": "mega_" + "f" * 64}, 401, "did not accept the credentials"),
        ({"customer_id": "11111111-2222-4333-8444-555555555555"}, 403, "refused access"),
    ],
    ids=["401", "403"],
)
def test_refused_credentials_stop_with_which_and_exit_1(
    make_emulator, tmp_path, change, status, says
):
    emulator = make_emulator(n_leads=250, seed=3, rate_windows=DOCUMENTED)
    config = tap_config(emulator, **change)

    text = run_doctor(config, tmp_path)
    run = run_doctor(config, tmp_path, "--json")

    assert (text.returncode, run.returncode) == (1, 1)
    line = run.line("account", "credentials")
    assert (line["status"], line["data"]["http_status"]) == ("error", status)
    assert str(status) in line["text"]
    assert says in line["text"]
    assert "leads" not in run.report["sections"]  # it stops there
    assert emulator.request_count == 2  # one request per run
    assert "error      credentials    MEGA" in text.stdout


def test_a_token_without_the_read_scope_is_a_403(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=5, rate_windows=DOCUMENTED, scopes=("public_api:leads:write",))

    run = run_doctor(tap_config(emulator), tmp_path, "--json")

    assert run.returncode == 1
    assert run.line("account", "credentials")["data"]["http_status"] == 403
    assert "public_api:leads:read" in run.line("account", "credentials")["text"]


@pytest.mark.parametrize("form", ["text", "json"])
@pytest.mark.parametrize("case", ["ok", "401", "settings", "unreachable"])
def test_the_token_is_in_no_output(make_emulator, tmp_path, form, case):
    emulator = make_emulator(n_leads=250, seed=3, rate_windows=DOCUMENTED)
    token = emulator.token
    config = tap_config(emulator)
    if case == "401":
        token = config["token"] = "mega_" + "e" * 64
    elif case == "settings":
        config["customer_id"] = token  # pasted into the wrong setting
    elif case == "unreachable":
        config["api_url"] = "http://127.0.0.1:9"
    args = ("--json",) if form == "json" else ()

    run = run_doctor(config, tmp_path, *args)

    assert run.returncode == (0 if case == "ok" else 1), run.stdout + run.stderr
    assert token not in run.stdout
    assert token not in run.stderr
    assert run.stdout or run.stderr


def test_invalid_settings_are_the_taps_one_line(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=5, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator, page_size=500), tmp_path)

    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        (
            "tap-mega-doctor: error: invalid settings: setting `page_size` is invalid: "
            "500 is greater than the maximum of 100"
        )
    ]
    assert emulator.request_count == 0


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"config": None}, "cannot read the --config file"),
        ({"config": "{bad"}, "is not valid JSON"),
        ({"state": "[]"}, "state.json is not a state tap-mega can read"),
        ({"config": '{"streams": []}'}, "config.json is a Singer catalog"),
        (
            {"state": '{"type": "RECORD", "stream": "leads", "record": {}}'},
            "state.json is not a state tap-mega can read (a RECORD message)",
        ),
    ],
    ids=["missing", "not JSON", "not an object", "catalog as config", "record as state"],
)
def test_bad_files_are_one_line(make_emulator, tmp_path, files, says):
    emulator = make_emulator(n_leads=5, rate_windows=DOCUMENTED)
    config_path, state_path = tmp_path / "config.json", tmp_path / "state.json"
    config_path.write_text(json.dumps(tap_config(emulator)))
    for name, text in files.items():
        path = config_path if name == "config" else state_path
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
    args = ["--config", str(config_path)]
    if "state" in files:
        args += ["--state", str(state_path)]

    completed = subprocess.run(
        [sys.executable, "-c", DOCTOR_MAIN, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("tap-mega-doctor: error: ")
    assert says in lines[0]


def test_settings_from_the_environment(make_emulator, tmp_path):
    emulator = make_emulator(n_leads=25, rate_windows=DOCUMENTED)
    env = {
        **os.environ,
        "TAP_MEGA_TOKEN": emulator.token,
        "TAP_MEGA_CUSTOMER_ID": emulator.customer_id,
        "TAP_MEGA_API_URL": emulator.url,
    }

    run = run_doctor(None, tmp_path, "--config=ENV", "--json", env=env)

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.line("leads", "matching")["data"]["total"] == 25


def test_unreachable_mega_is_an_error_line(tmp_path):
    config = {
        "token": "mega_" + "a" * 64,
        "customer_id": "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00",
        "api_url": "http://127.0.0.1:9",
    }

    run = run_doctor(config, tmp_path, "--json")

    assert run.returncode == 1
    reach = run.line("connection", "reach")
    assert reach["status"] == "error"
    # the host and the cause, as a sync tells them; one request, so no "after retries"
    assert reach["text"] == "could not reach MEGA at 127.0.0.1:9 (connection refused)"
    assert "leads" not in run.report["sections"]


@pytest.mark.parametrize("minutes", ["0", "abc", "inf"])
def test_a_bad_run_length_is_a_usage_line_and_no_request(make_emulator, tmp_path, minutes):
    emulator = make_emulator(n_leads=5, rate_windows=DOCUMENTED)

    run = run_doctor(tap_config(emulator), tmp_path, "--run-minutes", minutes)

    assert run.returncode == 2
    assert "--run-minutes" in run.stderr.strip().splitlines()[-1]
    assert "expected minutes above 0" in run.stderr
    assert emulator.request_count == 0
