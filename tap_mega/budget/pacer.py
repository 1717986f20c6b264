"""Request pacing on MEGA's `RateLimit-*` headers, so a sync never runs into a 429.

Each response reports its most constrained window; the pacer keeps a ledger per window
seen (window.py) and learns how slots come back (refill.py). Assumed: MEGA counts a
request once, between its leaving and its answer, and does not round `Reset` down.
While one window is known and ran out, a slot is kept: a longer window tied with it at
zero may be hidden by the headers, and the slot lets it be reported before a 429.
"""

from __future__ import annotations

import logging
import math
import random
import time
import typing as t
from collections import deque
from http import HTTPStatus

from tap_mega.budget.refill import Refill
from tap_mega.budget.window import Entry, Sent, Window
from tap_mega.errors import BudgetExhaustedError, ReserveTooLargeError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: Spread on top of `Retry-After`: clients refused together do not all come back together.
RETRY_AFTER_JITTER_SECONDS = 1.0
#: Our requests are kept two of MEGA's longest documented windows: refill.py compares
#: a report with the one before it.
LOG_HORIZON_SECONDS = 3600.0
KEPT_HORIZONS = 2
#: `Reset` counts whole seconds: a window reported with 0 still lasts one.
MIN_WINDOW_SECONDS = 1.0
#: Shorter waits come every few requests on a busy window: logged at DEBUG, not INFO.
INFO_WAIT_SECONDS = 1.0


class Wait(t.NamedTuple):
    """How long until the next request may go, and why."""

    seconds: float
    reason: str


def read_headers(headers: Mapping[str, str]) -> tuple[int, int, float] | None:
    """`RateLimit-Limit`, `-Remaining`, `-Reset`, or None unless finite, >= 0, Limit >= 1."""
    try:
        limit, remaining, reset = (
            float(headers[f"RateLimit-{name}"]) for name in ("Limit", "Remaining", "Reset")
        )
    except (KeyError, ValueError, TypeError):
        return None
    usable = limit >= 1 and 0 <= remaining < math.inf and 0 <= reset < math.inf
    return (int(limit), int(remaining), reset) if usable else None  # a count's fraction goes


class Pacer:
    """Decides when the next request may go; one per stream, no global state."""

    def __init__(  # noqa: PLR0913 - each is a knob tests or settings turn
        self,
        *,
        max_wait: float,
        reserve: int = 0,
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
        self.refill = Refill()
        #: Our requests, oldest first: for windows not reported yet, and the ETA's replay.
        self._sent: deque[Sent] = deque()
        self._in_flight: Sent | None = None
        #: Until when a 429 asked us to wait, and why.
        self._blocked: tuple[float, str] | None = None
        self.requests_sent = 0
        self.rate_limited = 0
        self.seconds_waited = 0.0

    def wait_for_turn(self) -> None:
        """Sleep until the next request fits every known window, or raise BudgetExhaustedError."""
        wait = self.next_wait()
        if wait.seconds > self.max_wait:
            raise BudgetExhaustedError(wait.seconds, wait.reason)
        if wait.seconds > 0:
            if self._logger and self._blocked is None:  # a 429's wait was logged already
                level = logging.INFO if wait.seconds >= INFO_WAIT_SECONDS else logging.DEBUG
                self._logger.log(level, "Rate limit: waiting %.1fs because %s", *wait)
            self._sleep(wait.seconds)
            self.seconds_waited += wait.seconds
        self._blocked = None
        self._send(self._clock())

    def _send(self, now: float) -> Sent:
        if self._in_flight is not None:  # no answer came (a reset connection): MEGA may
            self._in_flight.answered = now  # have counted it all the same
        self.requests_sent += 1
        self._in_flight = request = Sent(now, self.requests_sent)
        self._sent.append(request)
        for window in self.windows.values():
            window.entries.append(Entry(request))
        return request

    def next_wait(self) -> Wait:
        """The longest wait any constraint asks for right now."""
        now = self._clock()
        waits = [Wait(0.0, "")]
        if self._blocked is not None:
            until, reason = self._blocked
            waits.append(Wait(until - now, reason))
        alone = len(self.windows) == 1  # MEGA documents two: while one is known, keep a slot
        for window in self.windows.values():
            allowed = window.limit - self.reserve
            if allowed < 1:
                msg = (
                    f"rate_limit_reserve ({self.reserve}) leaves nothing of MEGA's window of "
                    f"{window.describe()} requests: lower it below {window.limit}"
                )
                raise ReserveTooLargeError(msg)
            if alone and window.exhausted and allowed > 1:
                allowed -= 1
            free_at = self.refill.free_at(window, now, allowed, self._sent)
            waits.append(Wait(free_at - now, f"the {window.describe()} window is used up"))
        return max(waits, key=lambda wait: wait.seconds)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from any response, success or error."""
        now = self._clock()
        request = self._in_flight or self._send(now)
        self._in_flight = None
        request.answered = now
        request.refused = status == HTTPStatus.TOO_MANY_REQUESTS
        while self._sent and self._sent[0].answered <= now - KEPT_HORIZONS * self._horizon():
            self._sent.popleft()  # memory stays bounded, whatever the sync's length
        if (numbers := read_headers(headers)) is None:
            return
        limit, remaining, reset = numbers
        window = self.windows.get(limit)
        if window is None:  # our requests so far count in it too
            entries = deque(Entry(sent) for sent in self._sent)
            window = self.windows[limit] = Window(limit, max(reset, MIN_WINDOW_SECONDS), entries)
        if self.refill.learn(window, remaining, reset, now, self._sent) and self._logger:
            how = "as a token bucket does" if self.refill.bucket else "at reported resets"
            self._logger.debug("Rate limit: MEGA's windows refill %s", how)
        window.report(remaining, reset, request, now, gradual=self.refill.gradual)
        window.exhausted |= remaining <= self.reserve

    def _horizon(self) -> float:
        """The longest window, an hour at least: our requests in it must be known as ours."""
        return max([LOG_HORIZON_SECONDS, *(w.seconds for w in self.windows.values())])

    def answered(self) -> list[float]:
        """When our requests MEGA counted in the last horizon were answered, in seconds from now."""
        now, horizon = self._clock(), self._horizon()
        return [
            r.answered - now
            for r in self._sent
            if not r.refused and now - horizon < r.answered < math.inf
        ]

    def note_rate_limited(self, retry_after: float) -> None:
        """A 429 still happened: wait `Retry-After`, with jitter only on top, or raise."""
        self.rate_limited += 1
        if retry_after > self.max_wait:
            reason = f"MEGA answered 429 with Retry-After {retry_after:g}s"
            raise BudgetExhaustedError(retry_after, reason)
        wait = retry_after + self._jitter()
        reason = f"MEGA answered 429 and asked for {retry_after:g}s via Retry-After"
        self._blocked = (self._clock() + wait, reason)
        if self._logger is not None:
            self._logger.warning(
                "MEGA rate limit reached (429): waiting %.1fs as Retry-After asks", wait
            )
