"""The Budget section: MEGA's window, the use of it so far, and the first sync's cost and length.

The duration replays the pacer's rule (each request goes when the one before
it is answered and every window has room) over the requests the first sync
needs, starting from the window as MEGA last reported it: a window a recent
run left nearly full makes the first sync wait for it to refill, as the pacer
will. Splitting into runs uses the same replay: a run ends at the first wait
longer than `max_wait_seconds`, so a `max_wait_seconds` above the short waits
and below the long ones cuts the sync where the budget makes it wait anyway.

Who used the window is not in MEGA's headers: only how much. A run of this
tap is told apart from other integrations only when the state says it ran
within the window; otherwise the line says it cannot tell.
"""

from __future__ import annotations

import itertools
import math
import statistics
import typing as t
from collections import deque
from dataclasses import dataclass

from tap_mega.budget.pacer import read_headers
from tap_mega.budget.progress import assumed_windows, budget_text
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


@dataclass(frozen=True)
class Seen:
    """The window the last response reported, as MEGA counted it."""

    limit: int
    remaining: int
    #: Seconds from that response until every request MEGA counted has left.
    reset: float

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Seen | None:
        """The `RateLimit-*` values as the pacer reads them; None when one is unusable."""
        reported = read_headers(headers)
        if reported is None:
            return None
        limit, remaining, reset = reported
        return cls(limit, min(remaining, limit), reset)

    @property
    def used(self) -> int:
        """Requests in the window by MEGA's count: ours, the tap's and others' alike."""
        return self.limit - self.remaining


@dataclass(frozen=True)
class Usage:
    """Whose requests fill the window, as far as the doctor can tell."""

    #: Requests this doctor sent or caused (Meltano's discovery before it).
    own: int
    #: Seconds since the state's run of this tap was last served a page (MEGA's
    #: clock), when the state says; None when it does not.
    tap_run_ago: float | None = None


@dataclass(frozen=True)
class Replay:
    """The pacer's rule from the window as reported: how long any number of requests take.

    The first sync's duration and a reconcile pass's come from the same replay,
    so the two lines can never disagree about the budget.
    """

    pacer: Pacer
    seen: Seen | None
    #: Requests the doctor sent or caused: in the window when it is not reported.
    own: int
    seconds_per_request: float

    def times(self, needed: int) -> list[float]:
        """When each of `needed` requests is answered, in seconds from now."""
        return first_sync_times(self.pacer, self.seen, self.own, needed, self.seconds_per_request)

    def seconds(self, needed: int) -> float:
        """How long `needed` requests take, sent as early as the budget allows."""
        times = self.times(needed)
        return times[-1] if times else 0.0


def reported_seen(pacer: Pacer, headers: Mapping[str, str]) -> Seen | None:
    """The window the last response reported, when the pacer knows it; None otherwise."""
    seen = Seen.from_headers(headers)
    return seen if seen is not None and seen.limit in pacer.windows else None


def first_sync_requests(total: int, page_size: int) -> int:
    """Pages of `page_size` for `total` leads; an empty account still costs one request."""
    return max(1, math.ceil(total / max(page_size, 1)))


def add_budget_lines(  # noqa: PLR0913 - each is one input of the arithmetic
    report: Report,
    pacer: Pacer,
    *,
    usage: Usage,
    headers: Mapping[str, str],
    total: int | None,
    page_size: int,
    seconds_per_request: float,
    run_minutes: float,
    max_wait_seconds: float,
) -> None:
    """Window, its use, the first sync's requests, duration and schedule."""
    seen = reported_seen(pacer, headers)
    window = pacer.windows.get(seen.limit) if seen is not None else None
    if seen is None or window is None:
        report.add(
            SECTION,
            "window",
            UNEXPECTED,
            "MEGA reported no RateLimit-* window: the tap assumed them on every "
            "response and cannot pace before a 429 without them",
        )
        seen = None
    else:
        report.add(
            SECTION,
            "window",
            OK,
            f"{window.describe()} reported: {seen.remaining:,} left, full again in "
            f"{format_duration(seen.reset)}",
            limit=window.limit,
            seconds=window.seconds,
            remaining=seen.remaining,
            reset=round(seen.reset),
        )
        add_use_line(report, seen, usage, window.seconds)
    if total is None:
        report.add(SECTION, "first sync", SKIPPED, "the number of leads is unknown")
        return
    needed = first_sync_requests(total, page_size)
    report.add(
        SECTION,
        "first sync",
        OK,
        f"{needed:,} request{'' if needed == 1 else 's'}: {total:,} leads at page_size {page_size}",
        requests=needed,
        leads=total,
        page_size=page_size,
    )
    times = first_sync_times(pacer, seen, usage.own, needed, seconds_per_request)
    seconds = times[-1]
    start = f", from the window as reported ({seen.remaining:,} left)" if seen is not None else ""
    report.add(
        SECTION,
        "duration",
        OK,
        f"{format_duration(seconds)} by the pacer's rule on a "
        f"{budget_text(pacer)}{start}, at {seconds_per_request * 1000:.0f} ms a request",
        seconds=round(seconds, 3),
        seconds_per_request=round(seconds_per_request, 6),
        budget=budget_text(pacer),
    )
    add_schedule_line(report, times, seconds_per_request, run_minutes * 60, max_wait_seconds)


def add_use_line(report: Report, seen: Seen, usage: Usage, window_seconds: float) -> None:
    """What the window held besides the doctor's requests, and whose, when that can be told."""
    used = max(0, seen.used - usage.own)
    span = format_duration(window_seconds)
    counted = f"Limit - Remaining - the doctor's own {usage.own}"
    ago = usage.tap_run_ago
    if used and ago is not None and ago < window_seconds:
        report.add(
            SECTION,
            "others",
            OK,
            f"{used:,} of {seen.limit:,} used in the last {span}, most likely by the "
            f"run of this tap the state comes from (its last page {format_duration(ago)} "
            f"ago); other integrations' share cannot be told apart from it: run the "
            f"doctor again in {format_duration(seen.reset)} to see theirs alone",
            used=used,
            tap_run_seconds_ago=round(ago, 1),
            told_apart=False,
        )
        return
    whose = "; MEGA's headers do not say whose" if used else ""
    text = (
        f"{used:,} of {seen.limit:,} used by other integrations or a recent run of this "
        f"tap ({counted}{whose})"
    )
    if used >= seen.limit:
        report.add(
            SECTION,
            "others",
            WARNING,
            f"{text}: all of it, for now; if no run of this tap ended in the last "
            f"{span}, the first sync will crawl",
            used=used,
            told_apart=False,
        )
    elif used / seen.limit >= BUSY_NEIGHBOUR_SHARE:
        report.add(
            SECTION,
            "others",
            WARNING,
            f"{text}: if no run of this tap ended in the last {span}, they are other "
            f"integrations': set rate_limit_reserve to about {used} so the tap leaves "
            f"them room; if one did, run the doctor again {span} after it",
            used=used,
            told_apart=False,
        )
    else:
        report.add(SECTION, "others", OK, text, used=used, told_apart=False)


def first_sync_times(
    pacer: Pacer, seen: Seen | None, own: int, needed: int, seconds_per_request: float
) -> list[float]:
    """When each of `needed` requests is answered, in seconds from now, by the pacer's rule.

    Each window of the budget holds `limit - rate_limit_reserve` requests; a
    request goes when the one before it is answered and every window has room,
    and stays in a window `seconds` after its answer. The reported window
    starts as full as MEGA said, every occupant leaving at its reset (the
    pacer keeps others' requests that long); a window not reported (MEGA's
    documented hourly one) starts with the doctor's own requests.
    """
    slots: list[tuple[int, float, deque[float]]] = []
    for window in assumed_windows(pacer):
        allowed = window.limit - max(pacer.reserve, 0)
        if allowed < 1:
            continue
        reported = seen is not None and window.limit == seen.limit
        occupants = (
            deque([seen.reset] * seen.used)
            if reported and seen is not None
            else deque([window.seconds] * own)
        )
        slots.append((allowed, window.seconds, occupants))
    at = 0.0
    times: list[float] = []
    for _ in range(needed):
        at += seconds_per_request
        for allowed, _seconds, leaves in slots:
            while leaves and leaves[0] <= at:
                leaves.popleft()
            if len(leaves) >= allowed:
                at = leaves[len(leaves) - allowed]
        for _allowed, seconds, leaves in slots:
            leaves.append(at + seconds)
        times.append(at)
    return times


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
        report.add(
            SECTION,
            "schedule",
            OK,
            f"one run of at most {minutes}: max_wait_seconds {max_wait_seconds:g} (as set) is fine",
            runs=1,
            max_wait_seconds=max_wait_seconds,
        )
        return
    runs = split_into_runs(times, seconds_per_request, run_seconds)
    if runs is None:
        report.add(
            SECTION,
            "schedule",
            WARNING,
            f"no max_wait_seconds cuts it into runs of {minutes}: the budget never "
            "makes it wait long enough; allow longer runs (--run-minutes)",
            runs=None,
        )
        return
    every = max(1, math.ceil(runs.interval / 60))
    cycle = "every minute" if every == 1 else f"every {every} minutes"
    report.add(
        SECTION,
        "schedule",
        OK,
        f"{runs.count} runs of at most {format_duration(runs.longest_run)}: set "
        f"max_wait_seconds to {runs.max_wait:g} and start a run {cycle}",
        runs=runs.count,
        max_wait_seconds=runs.max_wait,
        every_minutes=every,
        longest_run_seconds=round(runs.longest_run, 3),
    )


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
