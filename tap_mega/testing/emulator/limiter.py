"""The rate limiter behind the ``RateLimit-*`` headers and the 429s.

It holds one window count per (token, window) in the chosen reading
(:mod:`.windows`), decides admit or refuse, and reports one window in the
headers. The default is the exact sliding log, refused requests spend
nothing, and the most constrained window is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tap_mega.testing.emulator.headers import HeaderForms, ceil_seconds
from tap_mega.testing.emulator.windows import LIMITER_MODELS, RateWindow, window_factory

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tap_mega.testing.emulator.windows import WindowCount

__all__ = ["TIE_BREAKS", "LimiterConfig", "RateLimiter", "RateWindow", "ceil_seconds"]

TIE_BREAKS = ("constrained", "minute", "hour")


@dataclass(frozen=True)
class LimiterConfig:
    """One reading of the docs' rate limits; the defaults are the emulator's own.

    - ``model``: ``sliding`` (default), ``fixed`` (opened at the first hit),
      ``aligned`` (on a clock grid shifted by ``phase`` seconds) or ``bucket``.
    - ``refusals_spend``: a 429 counts against the budget too (default: not).
    - ``tie``: which window the headers report when several have the fewest
      requests left: ``constrained`` (default: the one that refills last),
      ``minute`` (the shortest window) or ``hour`` (the longest).
    """

    model: str = "sliding"
    phase: float = 0.0
    refusals_spend: bool = False
    tie: str = "constrained"
    forms: HeaderForms = field(default_factory=HeaderForms)

    def __post_init__(self) -> None:
        """Refuse a reading the limiter cannot play."""
        if self.model not in LIMITER_MODELS:
            msg = f"limiter model must be one of {', '.join(LIMITER_MODELS)}"
            raise ValueError(msg)
        if self.tie not in TIE_BREAKS:
            msg = f"tie break must be one of {', '.join(TIE_BREAKS)}"
            raise ValueError(msg)


class RateLimiter:
    """Window counts per token, in one reading; refusals explain when to retry.

    With the default sliding log, "60 a minute" holds for *every* 60 s span,
    with no double burst at a window edge, and Retry-After does not depend on
    where a wall-clock minute happens to start. It is the strictest reading of
    the docs, so a tap that copes here copes with the fixed-window readings.
    """

    def __init__(
        self,
        windows: Sequence[RateWindow],
        clock: Callable[[], float],
        config: LimiterConfig | None = None,
    ) -> None:
        """Keep counts per key, created lazily."""
        self.windows = tuple(windows)
        self.config = config or LimiterConfig()
        self._clock = clock
        self._new = window_factory(self.config.model, self.config.phase)
        self._counts: dict[str, list[WindowCount]] = {}

    @property
    def enabled(self) -> bool:
        """An empty window list disables limiting (and its headers)."""
        return bool(self.windows)

    def _of(self, key: str, now: float) -> list[WindowCount]:
        """The key's window counts."""
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = [self._new(window, now) for window in self.windows]
        return counts

    def admit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Consume one request of budget, or refuse.

        Silent in the docs: by default a refused request does not consume
        budget, so a client that honours Retry-After is admitted right when it
        says; one that hammers is refused but not punished further.
        ``refusals_spend`` plays the other reading.
        """
        now = self._clock()
        counts = self._of(key, now)
        full = [count for count in counts if count.remaining(now) <= 0]
        if full and not self.config.refusals_spend:
            return False, self._refusal_headers(full, now)
        for count in counts:
            count.add(now)
        if full:
            return False, self._refusal_headers(full, now)
        return True, self._report(counts, now)

    def peek(self, key: str) -> dict[str, str]:
        """Headers describing the budget without consuming any."""
        if not self.enabled:
            return {}
        now = self._clock()
        return self._report(self._of(key, now), now)

    def _rank(self, count: WindowCount, now: float) -> tuple[int, float]:
        """Order of preference for the reported window: lowest first."""
        remaining = count.remaining(now)
        tie = self.config.tie
        if tie == "minute":
            return remaining, count.window.seconds
        if tie == "hour":
            return remaining, -count.window.seconds
        return remaining, -count.until_full(now)

    def _report(self, counts: list[WindowCount], now: float) -> dict[str, str]:
        """Describe the most constrained window (fewest remaining, then the tie rule)."""
        count = min(counts, key=lambda c: self._rank(c, now))
        return {
            "RateLimit-Limit": str(count.window.limit),
            "RateLimit-Remaining": str(max(0, count.remaining(now))),
            "RateLimit-Reset": self.config.forms.reset_value(count.until_full(now)),
        }

    def _refusal_headers(self, full: list[WindowCount], now: float) -> dict[str, str]:
        """Retry-After is when *every* exhausted window has a free slot again.

        The reported window is the one that frees last, or under a ``minute`` or
        ``hour`` tie break the shortest or longest of the exhausted windows.
        """
        wait = max(count.until_slot(now) for count in full)
        if self.config.tie == "constrained":
            shown = max(full, key=lambda c: c.until_slot(now))
        else:
            shown = min(full, key=lambda c: self._rank(c, now))
        forms = self.config.forms
        return {
            "Retry-After": forms.retry_after_value(wait),
            "RateLimit-Limit": str(shown.window.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": forms.reset_value(shown.until_full(now), refused=True),
        }
