"""One-line progress reports with an ETA that knows the request budget.

A large first sync is bounded by the hourly budget, not by CPU, so the ETA replays
the pacer's rule over the requests still to make (`answer_times`, which the doctor uses too).
"""

from __future__ import annotations

import math
import time
import typing as t

from tap_mega.budget.window import Window
from tap_mega.timestamps import format_duration

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mega.budget.pacer import Pacer

PROGRESS_INTERVAL_SECONDS = 30.0
#: MEGA's documented windows: while only the minute one is reported, the ETA assumes
#: the hourly one too, so a large sync's first ETA is hours, not minutes.
DOCUMENTED_MINUTE = (60, 60.0)
DOCUMENTED_HOUR = (1000, 3600.0)


def assumed_windows(pacer: Pacer) -> list[Window]:
    """The known windows, plus MEGA's documented hourly one while it is unreported."""
    windows = list(pacer.windows.values())
    known = {(w.limit, w.seconds) for w in windows}
    if DOCUMENTED_MINUTE in known and max(w.seconds for w in windows) <= DOCUMENTED_MINUTE[1]:
        windows.append(Window(*DOCUMENTED_HOUR))
    return windows


def budget_text(pacer: Pacer) -> str:
    """`60/1m + 1,000/1h budget`, or `no rate limit reported`."""
    windows = sorted(assumed_windows(pacer), key=lambda w: w.seconds)
    if not windows:
        return "no rate limit reported"
    return " + ".join(w.describe() for w in windows) + " budget"


def seconds_for(pacer: Pacer, requests: int, seconds_per_request: float) -> float:
    """How long `requests` more take at this pace, sent as early as the budget allows."""
    done = answer_times(pacer, requests, seconds_per_request)
    return done[-1] if done else 0.0


def answer_times(pacer: Pacer, requests: int, seconds_per_request: float) -> list[float]:
    """When each of `requests` more is answered, in seconds from now.

    Each goes when the previous one is done and every window has a free slot; the
    gaps are the waits a run would make (the doctor splits a sync into runs there).
    """
    windows = [(w.limit - max(pacer.reserve, 0), w.seconds) for w in assumed_windows(pacer)]
    times, at = pacer.answered(), 0.0
    answered: list[float] = []
    for _ in range(requests):
        at += seconds_per_request
        for allowed, seconds in windows:
            if 1 <= allowed <= len(times):
                at = max(at, times[-allowed] + seconds)
        answered.append(at)
        times.append(at)
    return answered


class Progress:
    """Counts a stream's pages and leads, and says where the sync stands."""

    def __init__(  # noqa: PLR0913 - all but `pacer` keyword-only
        self,
        pacer: Pacer,
        page_size: int,
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        already: int = 0,
        label: str = "Progress",
    ) -> None:
        """`already`: leads earlier runs of this walk emitted, so counts and ETA are the walk's.

        `label` starts each line: a reconcile pass's are told apart from the walk's.
        """
        self.label = label
        self._pacer = pacer
        self._page_size = max(page_size, 1)
        self._interval = interval
        self._clock = clock
        self.started_at = self._last_report = clock()
        self.already = already
        self.leads = already
        self.pages = 0
        #: MEGA's count left from the walk's fixed `updated_since`: the first page's is the size.
        self.total: int | None = None

    def serves_pages_of(self, limit: int) -> None:
        """MEGA serves fewer leads a page than asked: count the pages left in its size."""
        self._page_size = max(limit, 1)

    def page_done(self, leads: int, total: int) -> str | None:
        """Count a page; return a line when one is due, else None."""
        self.pages += 1
        self.leads += leads
        if self.total is None:
            self.total = total
        now = self._clock()
        if now - self._last_report < self._interval:
            return None
        self._last_report = now
        return self.line()

    def line(self, *, done: bool = False) -> str:
        """`12,300 / 128,000 leads (9.6%), 123 pages, 125 requests, ... ETA 1h 56m`."""
        elapsed = max(self._clock() - self.started_at, 1e-9)
        pacer = self._pacer
        leads = f"{self.leads:,} leads"
        if self.total is not None and self.total > 0:
            percent = min(100.0, 100.0 * self.leads / self.total)
            leads = f"{self.leads:,} / {self.total:,} leads ({percent:.1f}%)"
        requests = f"{pacer.requests_sent:,} requests"
        if pacer.rate_limited:
            requests += f" ({pacer.rate_limited} answered 429)"
        if done:
            tail = f"done in {format_duration(elapsed)}"
        else:
            eta = self.eta_seconds(elapsed)
            tail = "ETA " + ("unknown" if eta is None else format_duration(eta))
        return (
            f"{self.label}: {leads}, {self.pages:,} pages, {requests}, "
            f"{self.leads_this_run / elapsed:,.0f} leads/s, "
            f"{pacer.requests_sent / elapsed * 3600:,.0f} requests/h, {budget_text(pacer)}: {tail}"
        )

    @property
    def leads_this_run(self) -> int:
        """The walk's leads less those earlier runs emitted."""
        return self.leads - self.already

    def eta_seconds(self, elapsed: float) -> float | None:
        """Seconds left: the budget-bound pace over the pages still to fetch."""
        if self.total is None:  # no page yet
            return None
        pages_left = math.ceil(max(self.total - self.leads, 0) / self._page_size)
        busy = max(elapsed - self._pacer.seconds_waited, 0.0)
        per_request = busy / max(self._pacer.requests_sent, 1)
        return seconds_for(self._pacer, pages_left, per_request)
