"""How a server's windows give slots back, learnt from its reports, not assumed.

Three ways fit MEGA's headers, and each asks for its own pacing:

- one by one, as a sliding log frees each request a window length after it was
  counted (`gradual`): our requests can be sent again as our oldest ones leave;
- all at once, at the end of a fixed or clock-aligned window: only a reported
  reset frees anything, and our requests must wait for it;
- continuously, as a token bucket refills (`bucket`): a slot comes back every
  `1 / rate` seconds, whoever spent it.

A server is taken as gradual until its reports show otherwise, because until
the shortest window first refills that reading and the others pace the same.
What tells them apart is room the pacer did not expect (the `surplus` of a
report: more left than MEGA's last count, less our requests since, plus those
a sliding log could have freed). A window that refills at once shows it in one
jump, at most once per window length; a bucket in steps of a slot or two,
several within one window length. Once either is seen the server is paced
that way for the rest of the run.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from tap_mega.budget.window import Sent, Window

#: Steps of surplus within one window length, each of a slot or two: only a bucket makes them.
BUCKET_STEPS = 4


class Refill:
    """What the reports so far say about how slots come back."""

    def __init__(self) -> None:
        """Start gradual: the reading every other one is told apart from."""
        self.gradual = True
        self.bucket = False

    def describe(self) -> str:
        """For a DEBUG line: the reading in force."""
        if self.bucket:
            return "a token bucket: slots come back at its refill rate"
        return "one by one, as in a sliding log" if self.gradual else "at reported resets"

    def learn(self, window: Window, remaining: int, now: float, sent: Sequence[Sent]) -> bool:
        """Compare a report with the last one of the same window; True when the reading changed."""
        last = window.last
        if last is None or self.bucket or not self.gradual:
            return False
        counted_since = sum(1 for request in _since(sent, last.number) if not request.refused)
        freed = remaining - (last.remaining - counted_since)
        could_leave = 0
        for request in reversed(sent):  # answers arrive in order: stop at the first too old
            if request.answered + window.seconds <= last.sent:
                break
            could_leave += request.sent + window.seconds <= now
        surplus = freed - could_leave - last.foreign
        if surplus > 2:  # noqa: PLR2004 - beyond a slot or two of rounding and latency
            self.gradual = False
            return True
        if surplus <= 0:
            return False
        if now - window.first_step > window.seconds:
            window.first_step, window.steps = now, 0
        window.steps += 1
        if window.steps >= BUCKET_STEPS:
            self.bucket, self.gradual = True, False
            return True
        return False


def _since(sent: Sequence[Sent], number: int) -> list[Sent]:
    """Our requests sent after the one numbered `number`, newest first."""
    found: list[Sent] = []
    for request in reversed(sent):
        if request.number <= number:
            break
        found.append(request)
    return found


def sent_after(sent: Sequence[Sent], number: int) -> int:
    """How many of our requests were sent after the one numbered `number`."""
    return len(_since(sent, number))
