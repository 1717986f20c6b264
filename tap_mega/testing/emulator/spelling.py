"""How the emulator spells the timestamps it serves.

The docs' examples show ``2026-07-01T18:20:00.000Z``; offsets, no fraction
and microseconds are ISO-8601 too, and MEGA may send any of them. A style
spells every timestamp the emulator serves, and the lead's instant is always
the spelled one, so sorting and filtering follow what a client reads:

- ``mega`` (default): UTC with milliseconds; a given spelling is re-spelled
  that way (sub-millisecond digits are dropped);
- ``given``: a given spelling is served as it was given; stamps the emulator
  makes itself (updates, inserts) are spelled as ``mega``;
- ``offset``: milliseconds at a fixed ``+02:00`` offset;
- ``seconds``: UTC without a fraction (instants drop to the whole second);
- ``micros``: UTC with microseconds; instants with whole milliseconds get
  sub-millisecond digits (a fixed function of the instant, so ties stay ties
  and order is kept), so a client that truncates to milliseconds shows it.
"""

from __future__ import annotations

from typing import Any

from tap_mega.testing.emulator.instants import parse_instant
from tap_mega.testing.leadgen import format_ms

__all__ = ["TIMESTAMP_KEYS", "TIMESTAMP_STYLES", "Spelling"]

TIMESTAMP_STYLES = ("mega", "given", "offset", "seconds", "micros")
TIMESTAMP_KEYS = ("created_at", "updated_at", "last_interaction_at")
_OFFSET = "+02:00"
_OFFSET_MS = 2 * 3600 * 1000
_US_PER_MS = 1000
_US_PER_S = 1_000_000


class Spelling:
    """One style's quantisation of instants and their spelling."""

    def __init__(self, style: str = "mega") -> None:
        """Refuse a style the emulator cannot spell."""
        if style not in TIMESTAMP_STYLES:
            msg = f"timestamp style must be one of {', '.join(TIMESTAMP_STYLES)}"
            raise ValueError(msg)
        self.style = style

    @property
    def is_default(self) -> bool:
        """Whether leads generated in MEGA's spelling need no re-spelling."""
        return self.style == "mega"

    def quantize(self, us: int) -> int:
        """The instant this style can spell: the grid it puts ``us`` on."""
        if self.style == "seconds":
            return us - us % _US_PER_S
        if self.style == "micros":
            if us % _US_PER_MS:
                return us
            # Knuth's multiplicative hash: spread, fixed, never 0 for a non-zero ms.
            return us + (us // _US_PER_MS * 2654435761) % 999 + 1
        return us - us % _US_PER_MS

    def spell(self, us: int) -> str:
        """Spell an instant on this style's grid."""
        us = self.quantize(us)
        ms, rest = divmod(us, _US_PER_MS)
        if self.style == "seconds":
            return format_ms(ms)[:-5] + "Z"
        if self.style == "micros":
            return f"{format_ms(ms)[:-1]}{rest:03d}Z"
        if self.style == "offset":
            return format_ms(ms + _OFFSET_MS)[:-1] + _OFFSET
        return format_ms(ms)

    def ingest(self, text: str) -> str:
        """The spelling to serve for a timestamp a test gave; invalid ones raise."""
        us = parse_instant(text)[0]
        return text if self.style == "given" else self.spell(us)

    def respell(self, lead: dict[str, Any]) -> dict[str, Any]:
        """Spell the lead's timestamps in this style, in place."""
        for key in TIMESTAMP_KEYS:
            value = lead.get(key)
            if value is not None:
                lead[key] = self.ingest(value)
        return lead
