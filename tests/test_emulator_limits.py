"""The emulator's rate-limit readings, over a real socket with raw HTTP (no tap)."""

from __future__ import annotations

import subprocess
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

from tap_mega.testing.emulator import LEADS_PATH, Fault, MegaEmulator, RateWindow, limiter_floor
from tests.helpers.emulator_cli import CLI, DEMO_AUTH, assert_one_line_cli_error, emulator_cli
from tests.helpers.emulator_raw import FakeClock, fetch


def budget(emu: MegaEmulator) -> tuple[int, str, str, str]:
    """Status, RateLimit-Limit, -Remaining and -Reset of one request."""
    status, headers, _ = fetch(emu, {"limit": 1})
    return (
        status,
        headers["RateLimit-Limit"],
        headers["RateLimit-Remaining"],
        headers["RateLimit-Reset"],
    )


def limited(clock: FakeClock, *windows: RateWindow, **readings: object) -> MegaEmulator:
    return MegaEmulator(n_leads=3, rate_windows=list(windows), clock=clock, **readings)


def test_fixed_windows_open_at_the_first_hit_and_refill_all_at_once():
    clock = FakeClock()
    with limited(clock, RateWindow(3, 10), limiter="fixed") as emu:
        first = budget(emu)
        clock.now += 5
        budget(emu)
        budget(emu)
        clock.now += 4.9
        refused = fetch(emu)
        clock.now += 0.1  # the window opened by the first hit ends
        renewed = budget(emu)

    assert first == (200, "3", "2", "10")
    assert refused[0] == 429
    assert refused[1]["Retry-After"] == "1"
    assert renewed == (200, "3", "2", "10"), "a fresh window, not a sliding one"


def test_aligned_windows_follow_the_clock_grid_at_its_phase():
    clock = FakeClock()  # 1000.0: with phase 3 the window is [993, 1003)
    with limited(clock, RateWindow(2, 10), limiter="aligned", limiter_phase=3) as emu:
        first = budget(emu)
        second = budget(emu)
        clock.now += 2.5
        refused = fetch(emu)
        clock.now += 0.5
        renewed = budget(emu)

    assert first == (200, "2", "1", "3"), "the window ends at the grid line, 3 s away"
    assert second == (200, "2", "0", "3")
    assert (refused[0], refused[1]["Retry-After"]) == (429, "1")
    assert renewed == (200, "2", "1", "10")


def test_token_bucket_refills_a_token_at_a_time():
    clock = FakeClock()
    with limited(clock, RateWindow(4, 4.0), limiter="bucket") as emu:
        burst = [budget(emu) for _ in range(4)]
        refused = fetch(emu)
        clock.now += 1.0
        one_more = budget(emu)
        clock.now += 2.0
        later = budget(emu)

    assert [b[2] for b in burst] == ["3", "2", "1", "0"]
    assert (refused[0], refused[1]["Retry-After"]) == (429, "1")
    assert one_more == (200, "4", "0", "4"), "one token earned in a second, spent"
    assert later == (200, "4", "1", "3"), "two more earned: a sliding log would refuse"


def test_refusals_spend_budget_when_asked():
    clock = FakeClock()
    with limited(clock, RateWindow(2, 10), refusals_spend=True) as emu:
        budget(emu)
        budget(emu)
        clock.now += 5
        assert fetch(emu)[0] == 429
        clock.now += 5
        after = budget(emu)

    assert after == (200, "2", "0", "10"), "the refused request at +5 s still counts"


def test_a_5xx_spends_budget_when_asked():
    clock = FakeClock()
    with limited(clock, RateWindow(5, 60), errors_spend=True) as emu:
        emu.add_fault(Fault("status", at_request=1, status=503))
        error = fetch(emu)
        after = budget(emu)

    assert error[0] == 503
    assert error[1]["RateLimit-Remaining"] == "4"
    assert after[2] == "3"


@pytest.mark.parametrize(
    ("tie", "shown"),
    [("constrained", ("4", "100")), ("hour", ("4", "100")), ("minute", ("2", "10"))],
)
def test_the_tie_break_picks_the_reported_window(tie, shown):
    clock = FakeClock()
    with limited(clock, RateWindow(2, 10), RateWindow(4, 100), report_tie=tie) as emu:
        budget(emu)
        budget(emu)
        clock.now += 10
        budget(emu)
        both_empty = budget(emu)
        clock.now += 1
        refused = fetch(emu)

    assert both_empty[2] == "0"
    assert (both_empty[1], both_empty[3]) == shown
    assert refused[1]["RateLimit-Limit"] == shown[0]
    assert refused[1]["Retry-After"] == "89", "always when every window has room again"


@pytest.mark.parametrize(("rounding", "reset"), [("ceil", "8"), ("floor", "7"), ("exact", "7.75")])
def test_reset_rounding(rounding, reset):
    clock = FakeClock()
    with limited(clock, RateWindow(1, 10), reset_rounding=rounding) as emu:
        budget(emu)
        clock.now += 2.25
        refused = fetch(emu)

    assert refused[1]["RateLimit-Reset"] == reset


def test_retry_after_as_a_fraction_and_as_an_http_date():
    clock = FakeClock()
    with limited(clock, RateWindow(1, 10), retry_after="fraction") as emu:
        budget(emu)
        clock.now += 2.25
        fraction = fetch(emu)[1]["Retry-After"]
    with limited(clock, RateWindow(1, 10), retry_after="date") as emu:
        budget(emu)
        clock.now += 2.25
        before = time.time()
        date = fetch(emu)[1]["Retry-After"]

    assert fraction == "7.75"
    moment = parsedate_to_datetime(date).timestamp()
    assert before + 7.75 <= moment <= before + 9


def test_latency_delays_the_count_after_arrival():
    with MegaEmulator(
        n_leads=3, rate_windows=[RateWindow(1, 1.0)], retry_after="fraction", latency_ms=(300, 300)
    ) as emu:
        started = time.monotonic()
        first = fetch(emu)
        elapsed = time.monotonic() - started
        refused = fetch(emu)

    assert first[0] == 200
    assert elapsed >= 0.3
    # Counted 0.3 s after it arrived, the second request finds the first one
    # 0.3 s older than its own round trip says: 1 - 0.3, not about 1.
    assert refused[0] == 429
    assert float(refused[1]["Retry-After"]) <= 0.72


def test_another_integration_spends_the_same_budget_until_stopped():
    with MegaEmulator(
        n_leads=3, rate_windows=[RateWindow(100, 60)], other_integration_rps=50
    ) as emu:
        time.sleep(0.5)
        status, headers, _ = fetch(emu)
        other = emu.other_integration
        assert other is not None
        assert other.running
    assert not other.running, "stopped with the emulator"
    spent = other.admitted

    assert status == 200
    assert spent >= 10
    assert int(headers["RateLimit-Remaining"]) <= 100 - 1 - 10
    assert emu.request_count == 1, "its requests are not this server's"


def test_readings_are_checked_when_scripted():
    for bad in (
        {"limiter": "leaky"},
        {"report_tie": "day"},
        {"reset_rounding": "up"},
        {"retry_after": "never"},
        {"latency_ms": (20, 10)},
    ):
        with pytest.raises(ValueError, match=r"must be one of|needs"):
            MegaEmulator(**bad)  # type: ignore[arg-type]


def test_cli_rate_limit_readings():
    with emulator_cli(
        "--leads",
        "5",
        "--rate-limit",
        "2/10",
        "--limiter",
        "fixed",
        "--limiter-phase",
        "0.5",
        "--retry-after",
        "date",
        "--reset-rounding",
        "exact",
        "--report-tie",
        "minute",
        "--refusals-spend",
        "--errors-spend",
        "--latency",
        "150-200",
    ) as url:
        started = time.monotonic()
        answers = [requests.get(url + LEADS_PATH, headers=DEMO_AUTH, timeout=10) for _ in range(3)]
        elapsed = time.monotonic() - started

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "." in answers[1].headers["RateLimit-Reset"], "exact, not whole seconds"
    parsedate_to_datetime(answers[2].headers["Retry-After"])
    assert elapsed >= 3 * 0.15


def test_cli_another_integration():
    with emulator_cli(
        "--leads", "5", "--rate-limit", "1000/60", "--other-integration", "50"
    ) as url:
        time.sleep(0.5)
        answer = requests.get(url + LEADS_PATH, headers=DEMO_AUTH, timeout=10)

    assert int(answer.headers["RateLimit-Remaining"]) <= 1000 - 1 - 10


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--limiter", "leaky"),
        ("--latency", "20-10"),
        ("--latency", "soon"),
        ("--other-integration", "0"),
        ("--retry-after", "never"),
        ("--max-limit", "0"),
    ],
)
def test_cli_bad_reading_is_one_line(flag, value):
    completed = subprocess.run(
        [*CLI, flag, value], capture_output=True, text=True, timeout=30, check=False
    )

    assert_one_line_cli_error(completed, flag)


def test_limiter_floor_is_a_perfect_clients_time_under_each_model():
    windows = [RateWindow(2, 2.0)]

    assert limiter_floor(4, windows, "sliding") == 2.0
    assert limiter_floor(5, windows, "fixed") == 4.0
    assert limiter_floor(3, windows, "aligned", phase=0.5) == 0.5
    assert limiter_floor(4, windows, "bucket") == pytest.approx(2.0)
    assert limiter_floor(1, windows) == 0.0
