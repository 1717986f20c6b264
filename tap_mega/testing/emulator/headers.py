"""How the limiter's numbers are spelled in ``RateLimit-Reset`` and ``Retry-After``.

The docs show whole seconds. HTTP also allows ``Retry-After`` as an HTTP date,
fractions occur in the wild, and a server may round ``RateLimit-Reset`` down
or not at all; each spelling is selectable so a client can be tried on it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["RESET_ROUNDINGS", "RETRY_AFTER_FORMS", "HeaderForms", "ceil_seconds"]

RESET_ROUNDINGS = ("ceil", "floor", "exact")
RETRY_AFTER_FORMS = ("seconds", "date", "fraction")


def ceil_seconds(value: float) -> int:
    """Round up, ignoring float noise so 2.0000000001 s does not become 3."""
    return max(0, math.ceil(round(value, 6)))


def _ceil_ms(value: float) -> float:
    """Round up to the millisecond, ignoring float noise."""
    return max(0.0, math.ceil(round(value * 1000, 3)) / 1000)


@dataclass(frozen=True)
class HeaderForms:
    """Spellings of the two time headers; the defaults are the docs' whole seconds.

    ``reset``: ``ceil`` rounds ``RateLimit-Reset`` up to whole seconds (the
    default), ``floor`` truncates it (0 while a fraction of a second is left),
    ``exact`` gives milliseconds (``12.345``).
    ``retry_after``: ``seconds`` (whole, at least 1: the default), ``date`` (an
    HTTP date, rounded up to the next whole second of the wall clock) or
    ``fraction`` (seconds with milliseconds, rounded up).
    """

    reset: str = "ceil"
    retry_after: str = "seconds"
    wall_clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        """Refuse a spelling the emulator cannot produce."""
        if self.reset not in RESET_ROUNDINGS:
            msg = f"reset rounding must be one of {', '.join(RESET_ROUNDINGS)}"
            raise ValueError(msg)
        if self.retry_after not in RETRY_AFTER_FORMS:
            msg = f"retry_after form must be one of {', '.join(RETRY_AFTER_FORMS)}"
            raise ValueError(msg)

    def reset_value(self, seconds: float, *, refused: bool = False) -> str:
        """``RateLimit-Reset``; a refusal's whole-second reset is at least 1."""
        if self.reset == "exact":
            return _fraction(_ceil_ms(seconds))
        if self.reset == "floor":
            return str(max(0, math.floor(round(seconds, 6))))
        whole = ceil_seconds(seconds)
        return str(max(1, whole) if refused else whole)

    def retry_after_value(self, seconds: float) -> str:
        """``Retry-After`` for a wait of ``seconds``."""
        if self.retry_after == "fraction":
            return _fraction(max(0.001, _ceil_ms(seconds)))
        if self.retry_after == "date":
            moment = math.ceil(self.wall_clock() + seconds)
            return format_datetime(datetime.fromtimestamp(moment, timezone.utc), usegmt=True)
        return str(max(1, ceil_seconds(seconds)))


def _fraction(seconds: float) -> str:
    """Seconds with at most three decimals and no trailing zeros (``1.5``, ``2``)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
