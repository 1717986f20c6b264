"""One of MEGA's rate windows: a ledger of what its headers proved, not a model of the server.

MEGA documents what `RateLimit-*` means, not how its limiter counts, so a window
trusts only this: `Remaining` is MEGA's own count when it counted our request
(occupants beyond ours are other integrations', `foreign`); `Reset` is when every
occupant it counted is gone, so each request of ours counted before a report leaves
by that report's reset at the latest (`release`); a request sent after the last
report stays until a later one says otherwise, or (gradual, see refill.py) a
window length after it was counted. Instants are read as an answer arrives, after
MEGA counted the request: that round trip is the margin kept for latency. `Reset`
is read as rounded up or exact, as servers send it.
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
    #: Answered 429: by MEGA's count it holds no slot, the window was full before it.
    refused: bool = False


@dataclass
class Entry:
    """One of our requests as one window sees it."""

    request: Sent
    #: The earliest reset reported by a response that came after it was counted.
    release: float = math.inf


@dataclass
class Window:
    """What we know of one rate window, identified by its limit."""

    limit: int
    #: The longest `Reset` seen: the window's length, as far as we can tell.
    seconds: float
    entries: deque[Entry] = field(default_factory=deque)
    #: The last report: the request it answered, its `Remaining`, when every occupant
    #: it counted is gone (arrival + `Reset`), and how many of those were not ours.
    reported: Sent | None = None
    remaining: int = 0
    reset_at: float = 0.0
    foreign: int = 0
    #: The window once ran out (nothing left beyond the reserve).
    exhausted: bool = False
    #: Bucket readings (refill.py): the slowest rate it refills at, and its small steps.
    refill_rate: float = 0.0
    steps: int = 0
    first_step: float = -math.inf

    def describe(self) -> str:
        """`60/1m`, `1,000/1h`: how users speak of a budget."""
        return f"{self.limit:,}/{format_duration(self.seconds)}"

    def released_at(self, entry: Entry, *, gradual: bool) -> float:
        """When `entry` surely leaves: its release, or sooner a window after its answer.

        The latter holds when slots free gradually, or while no report covered the entry.
        """
        after = entry.request.answered + self.seconds
        if gradual or entry.release == math.inf:
            return min(entry.release, after)
        return entry.release

    def report(self, remaining: int, reset: float, request: Sent, now: float,
               *, gradual: bool) -> None:
        """Take in the headers of the answer to `request`, arrived `now`."""
        self.seconds = max(self.seconds, reset)
        reset_at = now + reset
        for entry in reversed(self.entries):  # releases rise with age: stop at the first lower
            if entry.release <= reset_at:
                break
            entry.release = reset_at
        ours = sum(not entry.request.refused and self.released_at(entry, gradual=gradual) > now
                   for entry in self.entries)
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
