"""The rate limiter behind the ``RateLimit-*`` headers and the 429s."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["RateLimiter", "RateWindow", "ceil_seconds"]


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


def ceil_seconds(value: float) -> int:
    """Round up, ignoring float noise so 2.0000000001 s does not become 3."""
    return max(0, math.ceil(round(value, 6)))


class RateLimiter:
    """Sliding-log limiter: one timestamp log per (token, window).

    A sliding log rather than fixed windows: "60 a minute" then holds for
    *every* 60 s span, with no double burst at a window edge, and Retry-After
    does not depend on where a wall-clock minute happens to start. It is the
    strictest reading of the docs, so a tap that copes here copes with a
    fixed-window server too.
    """

    def __init__(self, windows: Sequence[RateWindow], clock: Callable[[], float]) -> None:
        """Keep logs per key, created lazily."""
        self.windows = tuple(windows)
        self._clock = clock
        self._logs: dict[str, list[list[float]]] = {}

    @property
    def enabled(self) -> bool:
        """An empty window list disables limiting (and its headers)."""
        return bool(self.windows)

    def _pruned(self, key: str, now: float) -> list[list[float]]:
        """Return the key's logs with expired entries dropped."""
        logs = self._logs.setdefault(key, [[] for _ in self.windows])
        for window, log in zip(self.windows, logs, strict=True):
            cut = bisect.bisect_right(log, now - window.seconds)
            if cut:
                del log[:cut]
        return logs

    def admit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Consume one request of budget, or refuse without consuming any.

        Silent in the docs: a refused request does not consume budget, so a
        client that honours Retry-After is admitted right when it says; one
        that hammers is refused but not punished further.
        """
        now = self._clock()
        logs = self._pruned(key, now)
        pairs = zip(self.windows, logs, strict=True)
        full = [(window, log) for window, log in pairs if len(log) >= window.limit]
        if full:
            return False, self._refusal_headers(full, now)
        for log in logs:
            log.append(now)
        return True, self._report(logs, now)

    def peek(self, key: str) -> dict[str, str]:
        """Headers describing the budget without consuming any."""
        if not self.enabled:
            return {}
        now = self._clock()
        return self._report(self._pruned(key, now), now)

    def _report(self, logs: list[list[float]], now: float) -> dict[str, str]:
        """Describe the most constrained window (fewest remaining, then slowest refill)."""
        def rank(pair: tuple[RateWindow, list[float]]) -> tuple[int, float]:
            window, log = pair
            return window.limit - len(log), -self._refill(window, log, now)

        window, log = min(zip(self.windows, logs, strict=True), key=rank)
        return {
            "RateLimit-Limit": str(window.limit),
            "RateLimit-Remaining": str(max(0, window.limit - len(log))),
            "RateLimit-Reset": str(ceil_seconds(self._refill(window, log, now))),
        }

    @staticmethod
    def _refill(window: RateWindow, log: list[float], now: float) -> float:
        """Seconds until every request in the window has expired."""
        return log[-1] + window.seconds - now if log else 0.0

    def _refusal_headers(
        self, full: list[tuple[RateWindow, list[float]]], now: float,
    ) -> dict[str, str]:
        """Retry-After is when *every* exhausted window has a free slot again."""
        waits = [(log[0] + window.seconds - now, window, log) for window, log in full]
        wait, window, log = max(waits, key=lambda item: item[0])
        return {
            "Retry-After": str(max(1, ceil_seconds(wait))),
            "RateLimit-Limit": str(window.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(max(1, ceil_seconds(self._refill(window, log, now)))),
        }
