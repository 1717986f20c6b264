"""How a server's windows give slots back: learnt from its reports, not assumed.

One by one as a sliding log frees them (`gradual`, assumed until shown otherwise), all at
once at a window's end, or steadily as a token bucket refills (`bucket`). A report with
more room than a sliding log explains (`surplus`) tells them apart: a window refilled at
once shows one jump per window length, a bucket several small steps. The reading holds for the run.
"""

from __future__ import annotations

import itertools
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from tap_mega.budget.window import Sent, Window

#: Surplus up to this is rounding and latency; more in one report is a window refilled at once.
JUMP_SLOTS = 2
#: Steps of surplus within one window length: a refill at once makes one, a bucket several.
BUCKET_STEPS = 4


def sent_after(sent: Sequence[Sent], number: int) -> list[Sent]:
    """Our requests sent after the one numbered `number`, newest first."""
    return list(itertools.takewhile(lambda request: request.number > number, reversed(sent)))


class Refill:
    """What the reports so far say about how slots come back."""

    def __init__(self) -> None:
        """Start gradual: the reading every other one is told apart from."""
        self.gradual = True
        self.bucket = False

    def learn(
        self, window: Window, remaining: int, reset: float, now: float, sent: Sequence[Sent]
    ) -> bool:
        """Read a report before `window` takes it in; True when the reading changed."""
        # Were it a bucket, `Remaining` is its whole tokens (one fraction short of
        # its deficit at most) and `Reset` the deficit's refill time rounded up.
        if reset > 0 and window.limit - remaining - 1 > 0:
            window.refill_rate = max(window.refill_rate, (window.limit - remaining - 1) / reset)
        last = window.reported
        if last is None or not self.gradual:
            return False
        counted = sum(1 for request in sent_after(sent, last.number) if not request.refused)
        freed = remaining - (window.remaining - counted)
        could_leave = 0
        for request in reversed(sent):  # answers arrive in order: stop at the first too old
            if request.answered + window.seconds <= last.sent:
                break
            could_leave += request.sent + window.seconds <= now
        surplus = freed - could_leave - window.foreign
        if surplus > JUMP_SLOTS:
            self.gradual = False
        elif surplus > 0:
            if now - window.first_step > window.seconds:
                window.first_step, window.steps = now, 0
            window.steps += 1
            self.bucket = window.steps >= BUCKET_STEPS
            self.gradual = not self.bucket
        return not self.gradual  # it was gradual until this report

    def free_at(self, window: Window, now: float, allowed: int, sent: Sequence[Sent]) -> float:
        """When `window` next has room for a request, in the reading in force."""
        free_at = window.free_at(now, allowed, gradual=self.gradual)
        last = window.reported
        if not self.bucket or last is None or window.refill_rate <= 0:
            return free_at
        # From the last report on, a bucket refills at `refill_rate` at least, up
        # to its limit, and loses a token to each request of ours sent since.
        spent = len(sent_after(sent, last.number))
        needed = window.limit - allowed + 1 + spent  # one token beyond those kept back
        if needed > window.limit:
            return free_at
        short = max(needed - window.remaining, 0)
        return min(free_at, max(now, last.answered + short / window.refill_rate))
