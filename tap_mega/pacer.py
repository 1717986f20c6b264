"""Request pacing on MEGA's `RateLimit-*` headers, so a sync never runs into a 429.

MEGA reports one window per response (the most constrained one) as
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until it
fully refills). The pacer learns each window as it is reported, keyed by its
limit, and keeps its own log of when this process's requests were answered.

Why our own log: a sliding window frees one slot per expired request, long
before it fully refills. Knowing when our own requests were answered, the pacer
can tell when the oldest of them leaves the window and send exactly then,
instead of waiting out the whole `Reset` (which would make an hourly-bound sync
about a third slower). Requests by the customer's other integrations show up as
occupants we did not send; they are assumed gone only at the window's `Reset`.
A fixed-window server frees slots no later than a sliding one, so the same
arithmetic is safe there too.

Why nothing is assumed about unreported windows: the hourly window only shows up
once it is tighter than the minute window. Until then the minute window is the
most constrained by definition, so pacing on what is reported never overruns
either. Only the ETA needs the hourly window early (see `assumed_windows`).
"""

from __future__ import annotations

import bisect
import logging
import math
import random
import time
import typing as t
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus

from tap_mega.errors import BudgetExhaustedError, ReserveTooLargeError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

RETRY_AFTER_JITTER_SECONDS = 1.0

#: MEGA's documented default bucket. When the reported window is exactly the
#: documented minute window, the documented hourly one is assumed for the ETA
#: until it is reported: the first ETA of a large sync is then hours, not minutes.
DOCUMENTED_MINUTE = (60, 60.0)
DOCUMENTED_HOUR = (1000, 3600.0)
#: How long our own request times are kept at least (see `_forget_older_than`).
LOG_HORIZON_SECONDS = 3600.0


@dataclass
class Window:
    """What we know of one of MEGA's rate windows, identified by its limit."""

    limit: int
    #: The longest `Reset` seen: a full window's length in seconds.
    seconds: float
    #: Occupants at the last report that were not our requests (other integrations).
    foreign: int
    #: When the window had fully refilled, as of the last report (all foreign gone).
    reset_at: float

    def describe(self) -> str:
        """`60/1m`, `1,000/1h`: how users speak of a budget."""
        return f"{self.limit:,}/{format_duration(self.seconds)}"


@dataclass(frozen=True)
class Wait:
    """How long until the next request may go, and why."""

    seconds: float
    reason: str


def format_duration(seconds: float) -> str:
    """Compact, human: `45s`, `12m`, `1h 56m`, `2d 3h`."""
    total = max(0, math.ceil(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) if shown else "0s"


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(float(headers[name]))
    except (KeyError, ValueError, TypeError):
        return None


class Pacer:
    """Decides when the next request may go; one per stream, no global state."""

    def __init__(  # noqa: PLR0913 - each is a knob tests or settings turn
        self,
        *,
        reserve: int = 0,
        max_wait: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[t.Any] | None = None,
    ) -> None:
        """Start with no knowledge: every window is learnt from the API's headers."""
        self.reserve = reserve
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter or (lambda: random.uniform(0, RETRY_AFTER_JITTER_SECONDS))  # noqa: S311
        self._logger = logger
        self.windows: dict[int, Window] = {}
        self._answered: deque[float] = deque()
        self._blocked_until: float | None = None
        self._retry_after: float = 0.0
        self.requests_sent = 0
        self.rate_limited = 0
        self.seconds_waited = 0.0
        self.started_at = clock()

    # -- before a request ------------------------------------------------- #
    def wait_for_turn(self) -> None:
        """Sleep until the next request fits every known window, or give up cleanly.

        Raises:
            BudgetExhaustedError: the wait is longer than `max_wait`.
        """
        wait = self.next_wait()
        if wait.seconds > self.max_wait:
            raise BudgetExhaustedError(wait.seconds, wait.reason)
        if wait.seconds > 0:
            self._log_wait(wait)
            self._sleep(wait.seconds)
            self.seconds_waited += wait.seconds
        self._blocked_until = None
        self.requests_sent += 1

    def next_wait(self) -> Wait:
        """The longest wait any constraint asks for right now."""
        now = self._clock()
        waits = [Wait(0.0, "")]
        if self._blocked_until is not None:
            waits.append(
                Wait(
                    self._blocked_until - now,
                    f"MEGA answered 429 and asked for {self._retry_after:g}s via Retry-After",
                )
            )
        for window in self.windows.values():
            free_at = self._free_at(window, now)
            if free_at > now:
                waits.append(
                    Wait(free_at - now, f"the {window.describe()} window is used up")
                )
        return max(waits, key=lambda wait: wait.seconds)

    def _free_at(self, window: Window, now: float) -> float:
        """When the window next has room for one more request beyond the reserve."""
        allowed = window.limit - self.reserve
        if allowed < 1:
            msg = (
                f"rate_limit_reserve ({self.reserve}) leaves nothing of MEGA's window of "
                f"{window.describe()} requests: lower it below {window.limit}"
            )
            raise ReserveTooLargeError(msg)
        answered = self._answered
        first = bisect.bisect_right(answered, now - window.seconds)
        own = len(answered) - first
        foreign = window.foreign if now < window.reset_at else 0
        if own + foreign < allowed:
            return now
        # Until reset_at, `foreign` occupants stay; we need that many of ours to expire.
        need = own + foreign - allowed + 1
        before_reset = (
            answered[first + need - 1] + window.seconds if need <= own else math.inf
        )
        # From reset_at on, only our own requests still count.
        need_after = own - allowed + 1
        after_reset = max(
            window.reset_at,
            answered[first + need_after - 1] + window.seconds if need_after > 0 else now,
        )
        return min(before_reset, after_reset)

    # -- after a response ------------------------------------------------- #
    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from any response, success or error; a 429 did not consume budget."""
        now = self._clock()
        if status != HTTPStatus.TOO_MANY_REQUESTS:
            self._answered.append(now)
        longest = max([LOG_HORIZON_SECONDS, *(w.seconds for w in self.windows.values())])
        self._forget_older_than(now - longest)
        limit = _header_int(headers, "RateLimit-Limit")
        remaining = _header_int(headers, "RateLimit-Remaining")
        reset = _header_int(headers, "RateLimit-Reset")
        if limit is None or remaining is None or reset is None or limit < 1:
            return
        window = self.windows.get(limit)
        seconds = max(float(reset), window.seconds if window else 0.0, 1.0)
        first = bisect.bisect_right(self._answered, now - seconds)
        own = len(self._answered) - first
        foreign = max(0, limit - remaining - own)
        self.windows[limit] = Window(limit, seconds, foreign, now + reset)

    def _forget_older_than(self, cutoff: float) -> None:
        """Keep memory bounded by the longest window, whatever the sync's length.

        At least an hour is kept even before any hourly window is reported: when
        it shows up, our requests in it must be known as ours, not as strangers'.
        """
        while self._answered and self._answered[0] <= cutoff:
            self._answered.popleft()

    def note_rate_limited(self, retry_after: float) -> None:
        """A 429 still happened: wait `Retry-After`, with jitter only on top.

        Raises:
            BudgetExhaustedError: `Retry-After` is longer than `max_wait`.
        """
        self.rate_limited += 1
        if retry_after > self.max_wait:
            reason = f"MEGA answered 429 with Retry-After {retry_after:g}s"
            raise BudgetExhaustedError(retry_after, reason)
        wait = retry_after + self._jitter()
        self._retry_after = retry_after
        self._blocked_until = self._clock() + wait
        if self._logger is not None:
            self._logger.warning(
                "MEGA rate limit reached (429): waiting %.1fs as Retry-After asks", wait
            )

    def _log_wait(self, wait: Wait) -> None:
        if self._logger is None or self._blocked_until is not None:
            return  # a 429's wait was already announced in note_rate_limited
        # Sub-second waits happen every few requests on a busy window: DEBUG only.
        level = logging.INFO if wait.seconds >= 1 else logging.DEBUG
        self._logger.log(level, "Rate limit: waiting %.1fs because %s", wait.seconds, wait.reason)

    # -- for progress and ETA -------------------------------------------- #
    def assumed_windows(self) -> list[Window]:
        """The known windows, plus MEGA's documented hourly one while it is unreported."""
        windows = list(self.windows.values())
        known = {(w.limit, w.seconds) for w in windows}
        longest = max((w.seconds for w in windows), default=0.0)
        if DOCUMENTED_MINUTE in known and longest <= DOCUMENTED_MINUTE[1]:
            limit, seconds = DOCUMENTED_HOUR
            windows.append(Window(limit, seconds, 0, 0.0))
        return windows

    def budget_text(self) -> str:
        """`60/1m + 1,000/1h budget`, or `no rate limit reported`."""
        windows = sorted(self.assumed_windows(), key=lambda w: w.seconds)
        if not windows:
            return "no rate limit reported"
        return " + ".join(w.describe() for w in windows) + " budget"

    def seconds_for(self, requests: int, seconds_per_request: float) -> float:
        """How long `requests` more take at this pace, sent as early as the budget allows.

        Replays the pacer's own rule on a copy of its log: each request goes when
        the previous one is done and every window has a free slot.
        """
        now = self._clock()
        windows = [(w.limit - max(self.reserve, 0), w.seconds) for w in self.assumed_windows()]
        windows = [(allowed, seconds) for allowed, seconds in windows if allowed >= 1]
        longest = max((allowed for allowed, _ in windows), default=0)
        times = list(self._answered)[-longest:] if longest else []
        at = now
        for _ in range(requests):
            at += seconds_per_request
            for allowed, seconds in windows:
                if len(times) >= allowed:
                    at = max(at, times[-allowed] + seconds)
            if longest:
                times.append(at)
                if len(times) > 2 * longest:
                    del times[:longest]
        return at - now
