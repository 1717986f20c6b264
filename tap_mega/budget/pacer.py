"""Request pacing on MEGA's `RateLimit-*` headers, so a sync never runs into a 429.

MEGA reports one window per response (the most constrained one) as
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds until it
fully refills). The pacer keeps a ledger per window, keyed by its limit (see
ratewindow.py): what the last report of that window said, and which of our
own requests it still holds. A window reported once is remembered when the
headers turn to another one, and our requests keep counting against it.

What is assumed, and what is learnt:

- Assumed: a request is counted once, between leaving and its answer arriving;
  `RateLimit-Reset` is not rounded down; every window of a server counts the
  same way.
- Learnt: the windows and their lengths (the longest `Reset` each reported);
  how full each is (`Remaining`, MEGA's own count, other integrations
  included); and how slots come back (see refill.py): one by one as in a
  sliding log, all at once at a fixed or clock-aligned window's reset, or at a
  token bucket's refill rate (the deficit a report names over its `Reset`).
- Kept back: while only one window is known, once it has run out, one of its
  slots. A longer window that ties with it at zero would be hidden by the
  headers (they report one window, and a server may break the tie toward the
  shorter); with a slot left in the known window, the hidden one is reported
  as soon as it has fewer left, before it can answer 429. MEGA documents two
  windows: once both are known, every slot is used.
"""

from __future__ import annotations

import logging
import random
import time
import typing as t
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus

from tap_mega.budget.refill import Refill, sent_after
from tap_mega.budget.window import Entry, Sent, Window, bucket_free_at
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


@dataclass(frozen=True)
class Wait:
    """How long until the next request may go, and why."""

    seconds: float
    reason: str


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    """A header's number; None when absent or not a finite, non-negative number."""
    try:
        value = float(headers[name])
    except (KeyError, ValueError, TypeError):
        return None
    return value if 0 <= value < float("inf") else None


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
        #: How slots come back: one by one until a report shows otherwise.
        self.refill = Refill()
        #: Our requests of the last two hours at least, for windows not reported yet.
        self._sent: deque[Sent] = deque()
        self._in_flight: Sent | None = None
        #: When our successful requests were answered: the ETA's replay.
        self._answered: deque[float] = deque()
        self._blocked_until: float | None = None
        self._retry_after: float = 0.0
        self.requests_sent = 0
        self.rate_limited = 0
        self.seconds_waited = 0.0

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
        now = self._clock()
        self._settle_in_flight(now)
        request = Sent(now, self.requests_sent)
        self._in_flight = request
        self._sent.append(request)
        for window in self.windows.values():
            window.track(request)

    def _settle_in_flight(self, now: float) -> None:
        """A request that got no answer (a reset connection) may still have been counted."""
        if self._in_flight is not None and self._in_flight.answered == float("inf"):
            self._in_flight.answered = now
        self._in_flight = None

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
        # MEGA documents two windows: while only one is known, a slot of it is kept.
        alone = len(self.windows) == 1
        for window in self.windows.values():
            allowed = self._allowed(window, keep_one=alone)
            free_at = window.free_at(now, allowed, gradual=self.refill.gradual)
            if self.refill.bucket and window.last is not None:
                since = sent_after(self._sent, window.last.number)
                free_at = min(free_at, bucket_free_at(window, now, allowed, since))
            if free_at > now:
                waits.append(
                    Wait(free_at - now, f"the {window.describe()} window is used up")
                )
        return max(waits, key=lambda wait: wait.seconds)

    def _allowed(self, window: Window, *, keep_one: bool) -> int:
        """How many of the window's slots we may fill: less the reserve, and the kept slot."""
        allowed = window.limit - self.reserve
        if allowed < 1:
            msg = (
                f"rate_limit_reserve ({self.reserve}) leaves nothing of MEGA's window of "
                f"{window.describe()} requests: lower it below {window.limit}"
            )
            raise ReserveTooLargeError(msg)
        if keep_one and window.exhausted and allowed > 1:
            allowed -= 1
        return allowed

    # -- after a response ------------------------------------------------- #
    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from any response, success or error."""
        now = self._clock()
        request = self._in_flight or Sent(now)
        self._in_flight = None
        request.answered = now
        request.refused = status == HTTPStatus.TOO_MANY_REQUESTS
        if not request.refused:
            self._answered.append(now)
        self._forget_older_than(now, self._horizon())
        limit = _header_number(headers, "RateLimit-Limit")
        remaining = _header_number(headers, "RateLimit-Remaining")
        reset = _header_number(headers, "RateLimit-Reset")
        if limit is None or remaining is None or reset is None or limit < 1:
            return
        window = self.windows.get(int(limit))
        if window is None:
            window = Window(int(limit), max(reset, 1.0))
            window.entries.extend(Entry(sent) for sent in self._sent)
            self.windows[window.limit] = window
        elif self.refill.learn(window, int(remaining), now, self._sent) and self._logger:
            self._logger.debug("Rate limit: MEGA's windows refill %s", self.refill.describe())
        window.report(int(remaining), reset, request, now, gradual=self.refill.gradual)
        if remaining <= self.reserve:
            window.exhausted = True

    def _horizon(self) -> float:
        """How far back our own requests are kept: the longest window, an hour at least.

        When a longer window shows up, our requests in it must be known as
        ours, not as strangers'.
        """
        return max([LOG_HORIZON_SECONDS, *(w.seconds for w in self.windows.values())])

    def _forget_older_than(self, now: float, horizon: float) -> None:
        """Keep memory bounded by the longest window, whatever the sync's length.

        Requests are kept two windows back: whether a report freed more than a
        sliding log could have looks back a window from the report before it.
        """
        while self._answered and self._answered[0] <= now - horizon:
            self._answered.popleft()
        while self._sent and self._sent[0].answered <= now - 2 * horizon:
            self._sent.popleft()

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
            windows.append(Window(limit, seconds))
        return windows

    def budget_text(self) -> str:
        """`60/1m + 1,000/1h budget`, or `no rate limit reported`."""
        windows = sorted(self.assumed_windows(), key=lambda w: w.seconds)
        if not windows:
            return "no rate limit reported"
        return " + ".join(w.describe() for w in windows) + " budget"

    def seconds_for(self, requests: int, seconds_per_request: float) -> float:
        """How long `requests` more take at this pace, sent as early as the budget allows."""
        done = self.answer_times(requests, seconds_per_request)
        return done[-1] if done else 0.0

    def answer_times(self, requests: int, seconds_per_request: float) -> list[float]:
        """When each of `requests` more is answered, in seconds from now.

        Replays the pacer's own rule on a copy of its log: each request goes when
        the previous one is done and every window has a free slot. The gaps
        between the times are the waits a run would make (`tap-mega-doctor`
        splits a long sync into runs at them).
        """
        now = self._clock()
        windows = [(w.limit - max(self.reserve, 0), w.seconds) for w in self.assumed_windows()]
        windows = [(allowed, seconds) for allowed, seconds in windows if allowed >= 1]
        longest = max((allowed for allowed, _ in windows), default=0)
        times = list(self._answered)[-longest:] if longest else []
        at = now
        answered: list[float] = []
        for _ in range(requests):
            at += seconds_per_request
            for allowed, seconds in windows:
                if len(times) >= allowed:
                    at = max(at, times[-allowed] + seconds)
            answered.append(at - now)
            if longest:
                times.append(at)
                if len(times) > 2 * longest:
                    del times[:longest]
        return answered
