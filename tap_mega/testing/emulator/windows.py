"""How one rate window counts, in each reading the docs allow.

MEGA documents "60 a minute and 1,000 an hour" and the ``RateLimit-*``
headers, not how its limiter counts. Each class here is one reading of one
window for one token; the limiter holds one per (token, window):

- :class:`SlidingLog`: every span of ``seconds`` holds at most ``limit``
  requests (the emulator's default: the strictest reading);
- :class:`FirstHitWindow`: a fixed window opened by the first request after
  the previous one closed;
- :class:`AlignedWindow`: fixed windows on a grid of ``seconds`` starting at
  ``phase`` on the limiter's clock;
- :class:`TokenBucket`: ``limit`` tokens, refilled at ``limit / seconds`` a
  second.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "LIMITER_MODELS",
    "AlignedWindow",
    "FirstHitWindow",
    "RateWindow",
    "SlidingLog",
    "TokenBucket",
    "WindowCount",
    "limiter_floor",
    "window_factory",
]

# A token bucket's float arithmetic may leave 0.9999999 of a token where the
# client waited exactly as long as it was told: that counts as a whole token.
_EPSILON = 1e-9


@dataclass(frozen=True)
class RateWindow:
    """``limit`` requests per ``seconds``; small values make limits testable."""

    limit: int
    seconds: float

    def __post_init__(self) -> None:
        """Reject windows that could never admit a request."""
        # `not 0 < seconds < inf` also refuses NaN, which would break every response.
        if self.limit < 1 or not 0 < self.seconds < math.inf:
            msg = "RateWindow needs limit >= 1 and finite seconds > 0"
            raise ValueError(msg)


class WindowCount(Protocol):
    """One window's count for one token; ``now`` never goes backwards."""

    window: RateWindow

    def remaining(self, now: float) -> int:
        """Requests that would still be admitted now (<= 0 when full)."""
        ...

    def add(self, now: float) -> None:
        """Count one request at ``now``."""
        ...

    def until_slot(self, now: float) -> float:
        """Seconds until one more request would be admitted (0 if it would now)."""
        ...

    def until_full(self, now: float) -> float:
        """Seconds until the whole budget is back (``RateLimit-Reset``)."""
        ...


class SlidingLog:
    """A log of request instants; those older than ``seconds`` are forgotten."""

    def __init__(self, window: RateWindow) -> None:
        """Start with an empty log."""
        self.window = window
        self._log: list[float] = []

    def _prune(self, now: float) -> list[float]:
        """Drop the instants that left the window; an instant exactly ``seconds`` old has."""
        log = self._log
        cut = bisect.bisect_right(log, now - self.window.seconds)
        if cut:
            del log[:cut]
        return log

    def remaining(self, now: float) -> int:
        """The limit less the requests of the last ``seconds``."""
        return self.window.limit - len(self._prune(now))

    def add(self, now: float) -> None:
        """Log the instant."""
        self._prune(now).append(now)

    def until_slot(self, now: float) -> float:
        """When enough old requests expire to leave room for one more."""
        log = self._prune(now)
        excess = len(log) - self.window.limit
        return 0.0 if excess < 0 else log[excess] + self.window.seconds - now

    def until_full(self, now: float) -> float:
        """When every logged request has expired."""
        log = self._prune(now)
        return log[-1] + self.window.seconds - now if log else 0.0


class FirstHitWindow:
    """A fixed window of ``seconds`` opened by the first request it counts."""

    def __init__(self, window: RateWindow) -> None:
        """No window is open yet."""
        self.window = window
        self._start: float | None = None
        self._count = 0

    def _roll(self, now: float) -> None:
        """Close the window once its time is up."""
        if self._start is not None and now >= self._start + self.window.seconds:
            self._start, self._count = None, 0

    def remaining(self, now: float) -> int:
        """The limit less this window's requests."""
        self._roll(now)
        return self.window.limit - self._count

    def add(self, now: float) -> None:
        """Count, opening a window if none is open."""
        self._roll(now)
        if self._start is None:
            self._start = now
        self._count += 1

    def until_full(self, now: float) -> float:
        """The open window's end, or 0 when none is open."""
        self._roll(now)
        return 0.0 if self._start is None else self._start + self.window.seconds - now

    def until_slot(self, now: float) -> float:
        """A full window frees its slots all at once, at its end."""
        return self.until_full(now) if self.remaining(now) <= 0 else 0.0


class AlignedWindow:
    """Fixed windows on a grid: ``[phase + k*seconds, phase + (k+1)*seconds)``."""

    def __init__(self, window: RateWindow, phase: float) -> None:
        """Remember the grid; nothing is counted yet."""
        self.window = window
        self._phase = phase
        self._index: int | None = None
        self._count = 0

    def _slot(self, now: float) -> int:
        """The grid cell ``now`` falls in."""
        return math.floor((now - self._phase) / self.window.seconds)

    def _roll(self, now: float) -> None:
        """A new cell starts from zero."""
        index = self._slot(now)
        if index != self._index:
            self._index, self._count = index, 0

    def remaining(self, now: float) -> int:
        """The limit less this cell's requests."""
        self._roll(now)
        return self.window.limit - self._count

    def add(self, now: float) -> None:
        """Count in the current cell."""
        self._roll(now)
        self._count += 1

    def until_full(self, now: float) -> float:
        """The cell's end when it counted anything, else 0."""
        self._roll(now)
        if not self._count:
            return 0.0
        return self._phase + (self._slot(now) + 1) * self.window.seconds - now

    def until_slot(self, now: float) -> float:
        """A full cell frees its slots at its end."""
        return self.until_full(now) if self.remaining(now) <= 0 else 0.0


class TokenBucket:
    """``limit`` tokens, refilled continuously at ``limit / seconds`` a second.

    A refused request that spends budget takes a token it does not have, so the
    bucket may go below zero: the client pays the debt back in time.
    """

    def __init__(self, window: RateWindow, now: float) -> None:
        """Start full."""
        self.window = window
        self._rate = window.limit / window.seconds
        self._tokens = float(window.limit)
        self._last = now

    def _refill(self, now: float) -> float:
        """Add the tokens earned since the last look."""
        if now > self._last:
            earned = (now - self._last) * self._rate
            self._tokens = min(float(self.window.limit), self._tokens + earned)
            self._last = now
        return self._tokens

    def remaining(self, now: float) -> int:
        """Whole tokens in the bucket."""
        return math.floor(self._refill(now) + _EPSILON)

    def add(self, now: float) -> None:
        """Take a token."""
        self._tokens = self._refill(now) - 1

    def until_slot(self, now: float) -> float:
        """When the bucket holds a whole token again."""
        return max(0.0, (1 - _EPSILON - self._refill(now)) / self._rate)

    def until_full(self, now: float) -> float:
        """When the bucket is full again."""
        return max(0.0, (self.window.limit - self._refill(now)) / self._rate)


LIMITER_MODELS = ("sliding", "fixed", "aligned", "bucket")


def window_factory(model: str, phase: float) -> Callable[[RateWindow, float], WindowCount]:
    """A constructor of ``model``'s window count, taking the window and the time now."""
    if model == "sliding":
        return lambda window, _now: SlidingLog(window)
    if model == "fixed":
        return lambda window, _now: FirstHitWindow(window)
    if model == "aligned":
        return lambda window, _now: AlignedWindow(window, phase)
    if model == "bucket":
        return TokenBucket
    msg = f"unknown limiter model {model!r}; expected one of {', '.join(LIMITER_MODELS)}"
    raise ValueError(msg)


def limiter_floor(
    requests: int,
    windows: Sequence[RateWindow],
    model: str = "sliding",
    phase: float = 0.0,
) -> float:
    """Seconds from the first admission to the last for a perfect client.

    The floor of ``model``: every request is sent the instant the model admits
    it and takes no time at all. The clock starts at 0, which for ``aligned``
    is where ``phase`` puts it on the grid.
    """
    make = window_factory(model, phase)
    counts = [make(window, 0.0) for window in windows]
    now = 0.0
    first = None
    for _ in range(requests):
        while any(count.remaining(now) <= 0 for count in counts):
            # A float boundary may leave a slot a hair away: step past it.
            now += max(_EPSILON, *(count.until_slot(now) for count in counts))
        for count in counts:
            count.add(now)
        first = now if first is None else first
    return now - (first or 0.0)
