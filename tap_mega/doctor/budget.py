"""The Budget section: MEGA's window, others' use of it, and the first sync's cost and length.

The duration is the pacer's own ETA (`answer_times` in budget/progress.py, which
the progress line uses too), replayed over the requests the first sync needs, on
the windows this run's responses reported. Splitting into runs uses the same
replay: a run ends at the first wait longer than `max_wait_seconds`, so a
`max_wait_seconds` above the short waits and below the long ones cuts the sync
where the budget makes it wait anyway.
"""

from __future__ import annotations

import itertools
import math
import statistics
import typing as t
from dataclasses import dataclass

from tap_mega.budget.progress import answer_times, budget_text
from tap_mega.doctor.report import OK, SKIPPED, UNEXPECTED, WARNING
from tap_mega.timestamps import format_duration

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_mega.budget.pacer import Pacer
    from tap_mega.doctor.report import Report

SECTION = "Budget"
#: Shorter waits never end a run: a max_wait_seconds below a second would end
#: runs on the jitter between requests.
MIN_CUT_SECONDS = 1.0
#: Others using this share of a window deserve a reserve of their own.
BUSY_NEIGHBOUR_SHARE = 0.1


@dataclass(frozen=True)
class Runs:
    """A split of the first sync into runs that each end at a long wait."""

    max_wait: float
    count: int
    longest_run: float
    #: The usual run plus the wait after it: how often to schedule a run.
    interval: float


def first_sync_requests(total: int, page_size: int) -> int:
    """Pages of `page_size` for `total` leads; an empty account still costs one request."""
    return max(1, math.ceil(total / max(page_size, 1)))


def add_budget_lines(  # noqa: PLR0913 - each is one input of the arithmetic
    report: Report,
    pacer: Pacer,
    *,
    own_requests: int,
    headers: Mapping[str, str],
    total: int | None,
    page_size: int,
    seconds_per_request: float,
    run_minutes: float,
    max_wait_seconds: float,
) -> None:
    """Window, others' use, the first sync's requests, duration and schedule."""
    if not add_window_lines(report, pacer, own_requests, headers):
        report.add(SECTION, "window", UNEXPECTED,
                   "MEGA reported no RateLimit-* window: the tap assumed them on every "
                   "response and cannot pace before a 429 without them")
    if total is None:
        report.add(SECTION, "first sync", SKIPPED, "the number of leads is unknown")
        return
    needed = first_sync_requests(total, page_size)
    report.add(SECTION, "first sync", OK,
               f"{needed:,} request{'' if needed == 1 else 's'}: {total:,} leads at "
               f"page_size {page_size}",
               requests=needed, leads=total, page_size=page_size)
    times = answer_times(pacer, needed, seconds_per_request)
    seconds = times[-1]
    report.add(SECTION, "duration", OK,
               f"{format_duration(seconds)} by the pacer's ETA on a "
               f"{budget_text(pacer)}, at {seconds_per_request * 1000:.0f} ms a request",
               seconds=round(seconds, 3), seconds_per_request=round(seconds_per_request, 6),
               budget=budget_text(pacer))
    add_schedule_line(report, times, seconds_per_request, run_minutes * 60, max_wait_seconds)


def add_window_lines(
    report: Report, pacer: Pacer, own_requests: int, headers: Mapping[str, str]
) -> bool:
    """The window the last response reported, and what others used of it.

    False when no usable window was reported.
    """
    reported = pacer.reported_window(headers)
    if reported is None:
        return False
    window, remaining, reset = reported
    report.add(SECTION, "window", OK,
               f"{window.describe()} reported: {remaining:,} left, full again in "
               f"{format_duration(reset)}",
               limit=window.limit, seconds=window.seconds, remaining=remaining, reset=int(reset))
    share = window.foreign / window.limit
    text = (f"{window.foreign:,} of {window.limit:,} used by other integrations "
            f"(Limit - Remaining - the doctor's own {own_requests})")
    if window.foreign >= window.limit:
        report.add(SECTION, "others", WARNING,
                   f"{text}: all of it, for now; if that is usual, the first sync will crawl",
                   used=window.foreign)
    elif share >= BUSY_NEIGHBOUR_SHARE:
        report.add(SECTION, "others", WARNING,
                   f"{text}: set rate_limit_reserve to about {window.foreign} so the tap "
                   "leaves them room", used=window.foreign)
    else:
        report.add(SECTION, "others", OK, text, used=window.foreign)
    return True


def add_schedule_line(
    report: Report,
    times: list[float],
    seconds_per_request: float,
    run_seconds: float,
    max_wait_seconds: float,
) -> None:
    """The `max_wait_seconds` and schedule that cut the first sync into runs of `run_seconds`."""
    minutes = f"{run_seconds / 60:g} minutes"
    if times[-1] <= run_seconds:
        report.add(SECTION, "schedule", OK,
                   f"one run of at most {minutes}: max_wait_seconds "
                   f"{max_wait_seconds:g} (as set) is fine", runs=1,
                   max_wait_seconds=max_wait_seconds)
        return
    runs = split_into_runs(times, seconds_per_request, run_seconds)
    if runs is None:
        report.add(SECTION, "schedule", WARNING,
                   f"no max_wait_seconds cuts it into runs of {minutes}: the budget never "
                   "makes it wait long enough; allow longer runs (--run-minutes)", runs=None)
        return
    every = max(1, math.ceil(runs.interval / 60))
    cycle = "every minute" if every == 1 else f"every {every} minutes"
    report.add(SECTION, "schedule", OK,
               f"{runs.count} runs of at most {format_duration(runs.longest_run)}: set "
               f"max_wait_seconds to {runs.max_wait:g} and start a run {cycle}",
               runs=runs.count, max_wait_seconds=runs.max_wait, every_minutes=every,
               longest_run_seconds=round(runs.longest_run, 3))


def split_into_runs(
    times: list[float], seconds_per_request: float, run_seconds: float
) -> Runs | None:
    """The fewest runs no longer than `run_seconds`, cut at the replay's longest waits.

    A wait is the gap between two answers beyond the request's own time. Trying
    the waits longest first, the first cut-off that keeps every run short enough
    wins; `max_wait_seconds` then sits above every wait kept inside a run (a
    minute's margin, for latency) and below every wait that ends one.
    """
    waits = [max(b - a - seconds_per_request, 0.0) for a, b in itertools.pairwise(times)]
    for cut in sorted({w for w in waits if w >= MIN_CUT_SECONDS}, reverse=True):
        runs = _runs(times, waits, cut)
        longest = max(end - start for start, end, _ in runs)
        if longest <= run_seconds:
            kept = max((w for w in waits if w < cut), default=0.0)
            max_wait = min(math.ceil(kept / 60) * 60 + 60, (kept + cut) / 2)
            # Most runs end at the same kind of wait: schedule on the usual cycle; a
            # run that starts while a longer wait is still on stops at once, harmless.
            interval = statistics.median_low(
                [end - start + after for start, end, after in runs[:-1]]
            )
            return Runs(round(max_wait), len(runs), longest, interval)
    return None


def _runs(times: list[float], waits: list[float], cut: float) -> list[tuple[float, float, float]]:
    """(start, end, wait after) of each run when every wait of `cut` or more ends a run."""
    runs: list[tuple[float, float, float]] = []
    start = 0.0
    for index, wait in enumerate(waits):
        if wait >= cut:
            runs.append((start, times[index], wait))
            start = times[index] + wait
    runs.append((start, times[-1], 0.0))
    return runs
