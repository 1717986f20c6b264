"""One of MEGA's rate windows: a ledger of what its headers proved, not a model of the server.

Trusted only: `Remaining` is MEGA's count when it counted our request (occupants beyond
ours are `foreign`); `Reset` is when all it counted are gone, so our requests before a
report leave by its reset (`release`). Instants are read as the answer arrives: that
round trip is the margin kept for latency.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from tap_mega.timestamps import format_duration


@dataclass
class Sent:
    """One request of ours: when it left, its place (1, 2, ...), its answer (inf: none yet)."""

    sent: float
    number: int = 0
    answered: float = math.inf
    refused: bool = False  # a 429 holds no slot: the window was full before it


@dataclass
class Entry:
    """One of our requests as one window sees it."""

    request: Sent
    release: float = math.inf  # the earliest reset reported after it was counted


@dataclass
class Window:
    """What we know of one rate window, identified by its limit."""

    limit: int
    seconds: float  # the longest `Reset` seen
    entries: deque[Entry] = field(default_factory=deque)
    #: The last report: the request it answered, its `Remaining`, when all it counted
    #: are gone (arrival + `Reset`), and how many of those were not ours.
    reported: Sent | None = None
    remaining: int = 0
    reset_at: float = 0.0
    foreign: int = 0
    exhausted: bool = False  # nothing was left beyond the reserve once
    #: Bucket readings (refill.py): the slowest rate it refills at, and its small steps.
    refill_rate: float = 0.0
    steps: int = 0
    first_step: float = -math.inf

    def describe(self) -> str:
        """`60/1m`, `1,000/1h`: how users speak of a budget."""
        return f"{self.limit:,}/{format_duration(self.seconds)}"

    def released_at(self, entry: Entry, *, gradual: bool) -> float:
        """Its release, or a window after its answer if sooner (gradual) or unreported."""
        if gradual or entry.release == math.inf:
            return min(entry.release, entry.request.answered + self.seconds)
        return entry.release

    def report(
        self, remaining: int, reset: float, request: Sent, now: float, *, gradual: bool
    ) -> None:
        """Take in the headers of the answer to `request`, arrived `now`."""
        self.seconds = max(self.seconds, reset)
        reset_at = now + reset
        for entry in reversed(self.entries):  # releases rise with age: stop at the first lower
            if entry.release <= reset_at:
                break
            entry.release = reset_at
        ours = sum(
            not entry.request.refused and self.released_at(entry, gradual=gradual) > now
            for entry in self.entries
        )
        self.reported, self.remaining, self.reset_at = request, remaining, reset_at
        self.foreign = max(0, self.limit - remaining - ours)

    def free_at(self, now: float, allowed: int, *, gradual: bool) -> float:
        """When the window next holds fewer than `allowed` requests."""
        while self.entries and self.released_at(self.entries[0], gradual=gradual) <= now:
            self.entries.popleft()  # memory stays at the window's occupants
        releases = sorted(self.released_at(entry, gradual=gradual) for entry in self.entries)
        own = len(releases)
        foreign = self.foreign if now < self.reset_at else 0
        if own + foreign < allowed:
            return now
        # Until the last report's reset its foreign occupants stay: ours must leave instead.
        need = own + foreign - allowed + 1
        before = releases[need - 1] if need <= own else math.inf
        need_after = own - allowed + 1
        after = max(self.reset_at, releases[need_after - 1] if need_after > 0 else now)
        return min(before, after)
