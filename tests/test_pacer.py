"""The pacer on a fake clock: headers in, sleeps out.

The server side is the emulator's own sliding-log limiter on the same fake
clock, so these tests hold the pacer to the semantics the emulator documents.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tap_mega.budget.progress import Progress, budget_text, seconds_for
from tap_mega.errors import BudgetExhaustedError, ReserveTooLargeError
from tap_mega.testing.emulator import RateWindow, _RateLimiter
from tap_mega.timestamps import format_duration
from tests.helpers.pacer import FakeClock, make_pacer

if TYPE_CHECKING:
    from tap_mega.budget.pacer import Pacer

LATENCY = 0.01
README = Path(__file__).resolve().parents[1] / "README.md"
#: What MEGA reports on a first sync's first page: its documented minute window.
MINUTE_WINDOW_HEADERS = {
    "RateLimit-Limit": "60",
    "RateLimit-Remaining": "59",
    "RateLimit-Reset": "60",
}
#: Page times for which a sync is bound by the budget: a page slower than 1 s
#: never meets the 60/1m window, and the README's figures no longer apply.
BUDGET_BOUND_PAGE_SECONDS = (LATENCY, 1.0)


def drive(
    pacer: Pacer, clock: FakeClock, limiter: _RateLimiter, requests: int, key: str = "tap"
) -> list[dict[str, str]]:
    """Send `requests` successful requests through the pacer; return every response's headers."""
    seen: list[dict[str, str]] = []
    done = 0
    while done < requests:
        pacer.wait_for_turn()
        clock.now += LATENCY / 2
        admitted, headers = limiter.admit(key)
        clock.now += LATENCY / 2
        seen.append(headers)
        pacer.observe(200 if admitted else 429, headers)
        if admitted:
            done += 1
        else:
            pacer.note_rate_limited(float(headers["Retry-After"]))
    return seen


def greedy_minimum(windows: list[RateWindow], requests: int) -> float:
    """The earliest the last of `requests` can be admitted, knowing every window."""
    times: list[float] = []
    at = 0.0
    for _ in range(requests):
        for window in windows:
            if len(times) >= window.limit:
                at = max(at, times[-window.limit] + window.seconds)
        times.append(at)
        at += LATENCY
    return times[-1]


def test_no_headers_means_no_waits() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    for _ in range(50):
        pacer.wait_for_turn()
        pacer.observe(200, {})
    assert clock.sleeps == []
    assert pacer.requests_sent == 50


def test_sends_freely_while_the_bucket_has_room_then_waits_for_the_oldest_slot() -> None:
    clock = FakeClock()
    limiter = _RateLimiter([RateWindow(5, 10.0)], clock)
    pacer = make_pacer(clock)

    drive(pacer, clock, limiter, 5)
    assert clock.sleeps == []
    second_answered = 1000.0 + 2 * LATENCY
    drive(pacer, clock, limiter, 1)

    assert len(clock.sleeps) == 1
    # The oldest requests leave the window 10 s after they were answered, not at
    # Reset. The only window known has run out, so one of its slots is kept (a
    # longer window tied with it would be hidden): the sixth request waits for
    # the second oldest to leave.
    assert clock.now - LATENCY == pytest.approx(second_answered + 10.0)


def test_two_windows_multi_window_sync_has_no_429_and_near_minimum_time() -> None:
    clock = FakeClock()
    windows = [RateWindow(6, 1.0), RateWindow(40, 10.0)]
    limiter = _RateLimiter(windows, clock)
    pacer = make_pacer(clock)
    start = clock.now

    seen = drive(pacer, clock, limiter, 150)

    assert all("Retry-After" not in headers for headers in seen)
    assert pacer.rate_limited == 0
    elapsed = clock.now - start
    # Until the 40/10s window shows up, one slot of the 6/1s window is kept
    # (see the pacer's docstring): here one in six, which the sliding log then
    # repeats. MEGA's minute window keeps one in sixty.
    assert elapsed <= greedy_minimum(windows, 150) * 1.05 + LATENCY
    # Both windows were learnt from the headers, though only one is reported at a time.
    assert set(pacer.windows) == {6, 40}
    assert pacer.windows[40].seconds == 10.0


def test_reserve_leaves_requests_unused_in_every_window() -> None:
    clock = FakeClock()
    limiter = _RateLimiter([RateWindow(10, 1.0), RateWindow(30, 10.0)], clock)
    pacer = make_pacer(clock, reserve=3)

    seen = drive(pacer, clock, limiter, 80)

    assert min(int(headers["RateLimit-Remaining"]) for headers in seen) == 3
    assert pacer.rate_limited == 0


def test_requests_by_other_integrations_are_respected() -> None:
    clock = FakeClock()
    limiter = _RateLimiter([RateWindow(10, 5.0)], clock)
    pacer = make_pacer(clock)
    for _ in range(7):  # another integration on the same token, just before us
        limiter.admit("tap")
    clock.now += 1.0

    seen = drive(pacer, clock, limiter, 12)

    assert all("Retry-After" not in headers for headers in seen)
    # Their 7 requests expire 5 s after they were made, at the window's reset.
    assert clock.now >= 1000.0 + 5.0


def test_429_waits_retry_after_with_jitter_on_top_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, logger=logging.getLogger("pacer-test"))
    pacer.wait_for_turn()
    pacer.observe(429, {"Retry-After": "7"})
    with caplog.at_level(logging.WARNING):
        pacer.note_rate_limited(7.0)
    pacer.wait_for_turn()

    assert clock.sleeps == [7.5]
    assert "waiting 7.5s as Retry-After asks" in caplog.text
    assert pacer.rate_limited == 1


def test_a_wait_longer_than_max_wait_ends_the_run_instead_of_sleeping() -> None:
    clock = FakeClock()
    limiter = _RateLimiter([RateWindow(3, 600.0)], clock)
    pacer = make_pacer(clock, max_wait=60)
    drive(pacer, clock, limiter, 3)

    with pytest.raises(BudgetExhaustedError) as caught:
        pacer.wait_for_turn()

    assert caught.value.wait == pytest.approx(600.0 - LATENCY * 2, abs=0.05)
    assert "3/10m window is used up" in caught.value.reason
    assert clock.sleeps == []


def test_a_retry_after_longer_than_max_wait_ends_the_run() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, max_wait=60)
    with pytest.raises(BudgetExhaustedError, match="Retry-After 900s"):
        pacer.note_rate_limited(900.0)


def test_a_reserve_that_leaves_nothing_is_an_error_naming_the_setting() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, reserve=60)
    pacer.observe(
        200, {"RateLimit-Limit": "60", "RateLimit-Remaining": "59", "RateLimit-Reset": "60"}
    )
    with pytest.raises(ReserveTooLargeError, match="rate_limit_reserve"):
        pacer.wait_for_turn()


def test_eta_assumes_the_documented_hourly_window_until_it_is_reported() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    pacer.observe(
        200, {"RateLimit-Limit": "60", "RateLimit-Remaining": "59", "RateLimit-Reset": "60"}
    )

    assert budget_text(pacer) == "60/1m + 1,000/1h budget"
    # 1,280 more requests: 1,000 in the first hour, the rest after it.
    assert 3600 <= seconds_for(pacer, 1280, 0.1) <= 3600 + 5 * 60


def test_eta_follows_the_reported_windows_when_they_are_not_the_documented_ones() -> None:
    clock = FakeClock()
    limiter = _RateLimiter([RateWindow(60, 1.0), RateWindow(1000, 60.0)], clock)
    pacer = make_pacer(clock)
    drive(pacer, clock, limiter, 1)

    assert budget_text(pacer) == "60/1s budget"
    assert seconds_for(pacer, 59, 0.0) == 0.0
    assert math.isclose(seconds_for(pacer, 119, 0.0), 1.0, abs_tol=0.05)


def test_format_duration() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(44.2) == "45s"
    assert format_duration(6960) == "1h 56m"
    assert format_duration(2 * 86400 + 3 * 3600 + 5) == "2d 3h"


def test_progress_reports_at_most_every_interval_with_total_and_eta() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    progress = Progress(pacer, 100, interval=30, clock=clock)
    lines = []
    for _ in range(10):
        pacer.wait_for_turn()
        pacer.observe(
            200, {"RateLimit-Limit": "60", "RateLimit-Remaining": "50", "RateLimit-Reset": "60"}
        )
        clock.now += 10
        lines.append(progress.page_done(100, 128_000))

    printed = [line for line in lines if line]
    assert len(printed) == 3  # at 30, 60 and 90 seconds
    assert printed[0].startswith("Progress: 300 / 128,000 leads (0.2%), 3 pages, 3 requests")
    assert "60/1m + 1,000/1h budget: ETA" in printed[0]
    assert progress.line(done=True).endswith("done in 1m 40s")


def test_progress_of_a_walk_an_earlier_run_began_counts_its_leads_too() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    progress = Progress(pacer, 100, interval=30, clock=clock, already=64_000)
    for _ in range(10):
        pacer.wait_for_turn()
        pacer.observe(
            200, {"RateLimit-Limit": "60", "RateLimit-Remaining": "50", "RateLimit-Reset": "60"}
        )
        clock.now += 10
        progress.page_done(100, 128_000)

    line = progress.line()
    assert line.startswith("Progress: 65,000 / 128,000 leads (50.8%), 10 pages, 10 requests")
    assert ", 10 leads/s," in line  # this run's 1,000 leads in 100 s, not the walk's
    assert progress.leads_this_run == 1000
    eta = progress.eta_seconds(100.0)
    assert eta is not None
    # The 630 pages still to fetch (63,000 leads), at this run's pace per request.
    assert eta == seconds_for(pacer, 630, (100.0 - pacer.seconds_waited) / 10)


def test_the_pacer_keeps_only_an_hour_of_its_own_requests() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    for _ in range(3 * 3600):  # three hours at one request a second, no headers
        pacer.wait_for_turn()
        pacer.observe(200, {})
        clock.now += 1.0
    assert len(pacer.answered()) <= 3601
    assert len(pacer._sent) <= 2 * 3600 + 1


def first_sync_paragraph() -> str:
    """README's "How long a first sync takes", on one line."""
    text = README.read_text(encoding="utf-8")
    start = text.index("**How long a first sync takes.**")
    return " ".join(text[start : text.index("\n\n", start)].split())


def stated_first_sync_seconds() -> list[tuple[int, int]]:
    """(leads, seconds) for each "N leads take about H hours M minutes" of the README."""
    claims = re.findall(
        r"(\d{1,3}(?:,\d{3})+)(?: leads take)? about (?:(\d+) hours? )?(\d+) minutes",
        first_sync_paragraph(),
    )
    return [
        (int(leads.replace(",", "")), int(hours or 0) * 3600 + int(minutes) * 60)
        for leads, hours, minutes in claims
    ]


def first_sync_estimate(leads: int, seconds_per_page: float) -> float:
    """The pacer's ETA for a first sync of `leads`, as it stands once page 1 is in."""
    clock = FakeClock()
    pacer = make_pacer(clock)
    pacer.wait_for_turn()
    clock.now += seconds_per_page
    pacer.observe(200, MINUTE_WINDOW_HEADERS)
    pages_left = math.ceil(leads / 100) - 1
    return seconds_per_page + seconds_for(pacer, pages_left, seconds_per_page)


def test_readme_first_sync_durations_are_the_pacers_estimate() -> None:
    claims = stated_first_sync_seconds()

    assert len(claims) >= 3, "the README's figures were not found"
    for leads, stated in claims:
        fastest, slowest = (first_sync_estimate(leads, s) for s in BUDGET_BOUND_PAGE_SECONDS)
        # "About" a whole number of minutes: within half a minute of the pacer's range.
        assert fastest - 30 <= stated <= slowest + 30, (leads, stated, fastest, slowest)


def test_readme_first_sync_formula_is_the_pacers_estimate() -> None:
    formula = "`(ceil(N/100) - 1) // 1000` hours plus the minutes for the rest at 60 a minute"
    assert formula in first_sync_paragraph()

    for leads in (100, 6_000, 100_000, 100_100, 128_000, 200_000, 500_000, 1_000_000):
        requests = math.ceil(leads / 100)
        hours = (requests - 1) // 1000
        rest = requests - 1000 * hours
        by_formula = hours * 3600 + rest * 60 / 60
        fastest, slowest = (first_sync_estimate(leads, s) for s in BUDGET_BOUND_PAGE_SECONDS)
        assert fastest <= by_formula <= slowest + 1, (leads, by_formula, fastest, slowest)


def test_the_first_sync_estimate_is_what_the_pacer_then_does() -> None:
    clock = FakeClock()
    limiter = _RateLimiter([RateWindow(60, 60.0), RateWindow(1000, 3600.0)], clock)
    pacer = make_pacer(clock)
    start = clock.now

    drive(pacer, clock, limiter, 1280)

    assert pacer.rate_limited == 0
    assert clock.now - start == pytest.approx(first_sync_estimate(128_000, LATENCY), abs=1)
