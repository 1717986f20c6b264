"""One of MEGA's rate windows, as its headers and this process's own requests describe it.

MEGA's docs say what the `RateLimit-*` headers mean, not how the limiter counts:
a sliding log, fixed windows opened at the first hit or aligned to the clock,
and a token bucket all fit them. So a window here is not a model of the
server but a ledger of what the headers proved:

- `RateLimit-Remaining` is MEGA's own count at the moment it counted our
  request: the occupants it names (foreign ones included) are trusted as such;
- `RateLimit-Reset` says when every one of those occupants is gone, whatever the
  model: so each of our requests counted before a report leaves the window no
  later than that report's reset (`release`), and a report that comes later
  can only bring that moment forward;
- a request we sent after the window's last report stays in it until a later
  report says otherwise.

Instants are taken when a response arrives, a round trip after the request
left: MEGA counted the request in between, so an instant read off a response
is never earlier than MEGA's own. That round trip is the margin kept for
latency. `RateLimit-Reset` is taken as rounded up (or exact), as servers do;
a server that rounds it down could see a request up to a second early.

Whether a slot frees gradually (a sliding log: each request leaves `seconds`
after it was counted) is not assumed either: see refill.py.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Sent:
    """One request of ours: when it left, and when its answer arrived (inf: not yet)."""

    sent: float
    #: Its place among this process's requests: 1, 2, 3...
    number: int = 0
    answered: float = math.inf
    #: Answered 429: MEGA may or may not have counted it.
    refused: bool = False


@dataclass
class Entry:
    """One of our requests as one window sees it."""

    request: Sent
    #: The earliest reset reported by a response that came after it was counted.
    release: float = math.inf


@dataclass
class Report:
    """What one response said of this window."""

    remaining: int
    #: When every occupant MEGA counted had left: arrival + `RateLimit-Reset`.
    reset_at: float
    #: The request it answered: its number, sent then, its answer arrived then.
    number: int
    sent: float
    answered: float
    #: Occupants that were not ours, gone at `reset_at`.
    foreign: int


@dataclass
class Window:
    """What we know of one rate window, identified by its limit."""

    limit: int
    #: The longest `Reset` seen: the window's length, as far as we can tell.
    seconds: float
    entries: deque[Entry] = field(default_factory=deque)
    last: Report | None = None
    #: The window once ran out (nothing left beyond the reserve).
    exhausted: bool = False
    #: Slots per second it surely refills at, were it a token bucket (see refill.py).
    refill_rate: float = 0.0
    #: Small steps of unexpected room since `first_step` (see refill.py).
    steps: int = 0
    first_step: float = -math.inf

    @property
    def foreign(self) -> int:
        """Occupants at the last report that were not our requests (other integrations)."""
        return self.last.foreign if self.last else 0

    def describe(self) -> str:
        """`60/1m`, `1,000/1h`: how users speak of a budget."""
        return f"{self.limit:,}/{format_duration(self.seconds)}"

    def track(self, request: Sent) -> None:
        """Count a request we are sending against this window."""
        self.entries.append(Entry(request))

    def released_at(self, entry: Entry, *, gradual: bool) -> float:
        """When `entry` surely no longer counts in this window.

        Gradual: it also leaves `seconds` after its answer, as in a sliding log.
        A request sent after the last report, on a server not known to be
        gradual, leaves a whole window after its answer: only a later report
        could say sooner, and waiting forever for one would stall the sync.
        """
        after = entry.request.answered + self.seconds
        if gradual or entry.release == math.inf:
            return min(entry.release, after)
        return entry.release

    def report(self, remaining: int, reset: float, request: Sent, now: float,
               *, gradual: bool) -> Report:
        """Take in one response's headers (the answer to `request`, arrived `now`)."""
        self.seconds = max(self.seconds, reset, 1.0)
        reset_at = now + reset
        # Were it a bucket: `Remaining` is the whole tokens left, `Reset` the time
        # the deficit takes to refill, rounded up; so this is a lower bound.
        if reset > 0 and self.limit - remaining - 1 > 0:
            self.refill_rate = max(self.refill_rate, (self.limit - remaining - 1) / reset)
        for entry in reversed(self.entries):  # releases rise with age: stop at the first lower
            if entry.release <= reset_at:
                break
            entry.release = reset_at
        # A refused request holds no slot by MEGA's count here: a 429 means the
        # window was full before it (as refill.py reads it too).
        ours = sum(
            1 for entry in self.entries
            if not entry.request.refused and self.released_at(entry, gradual=gradual) > now
        )
        foreign = max(0, self.limit - remaining - ours)
        self.last = Report(remaining, reset_at, request.number, request.sent, now, foreign)
        return self.last

    def forget_released(self, now: float, *, gradual: bool) -> None:
        """Drop the requests that have left the window: memory stays at its occupants."""
        entries = self.entries
        while entries and self.released_at(entries[0], gradual=gradual) <= now:
            entries.popleft()

    def free_at(self, now: float, allowed: int, *, gradual: bool) -> float:
        """When the window next holds fewer than `allowed` requests."""
        self.forget_released(now, gradual=gradual)
        releases = [self.released_at(entry, gradual=gradual) for entry in self.entries]
        releases.sort()
        own = len(releases)
        last = self.last
        foreign_until = last.reset_at if last else 0.0
        foreign = last.foreign if last and now < foreign_until else 0
        if own + foreign < allowed:
            return now
        # Until the last report's reset its foreign occupants stay: ours must leave instead.
        need = own + foreign - allowed + 1
        before = releases[need - 1] if need <= own else math.inf
        need_after = own - allowed + 1
        after = max(foreign_until, releases[need_after - 1] if need_after > 0 else now)
        return min(before, after)


def bucket_free_at(window: Window, now: float, allowed: int, sent_since: int) -> float:
    """When a token bucket surely holds a token beyond the `limit - allowed` kept back.

    From the last report on, the bucket refills at least at `refill_rate`, up
    to its limit, and loses a token to each of our `sent_since` requests.
    """
    last = window.last
    kept = window.limit - allowed
    if last is None or window.refill_rate <= 0 or sent_since + kept + 1 > window.limit:
        return math.inf
    short = kept + 1 + sent_since - last.remaining
    return max(now, last.answered + max(short, 0) / window.refill_rate)


def format_duration(seconds: float) -> str:
    """Compact, human: `45s`, `12m`, `1h 56m`, `2d 3h`."""
    total = max(0, math.ceil(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) if shown else "0s"
