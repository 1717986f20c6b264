"""The pacer against every limiter reading the docs allow, on a fake clock.

The server side is the emulator's limiter in each model (sliding log, fixed
windows opened at the first hit, clock-aligned windows, token bucket), with
each tie break of the reported window, requests counted up to 20 ms after
they leave, and `RateLimit-Reset` rounded up or exact. MEGA's two windows are
scaled 60 times (60/1s and 1,000/1min) and 1,500 requests cross the hourly
limit, where the headers' tie used to hide it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from tap_mega.testing.emulator import RateLimiter, RateWindow, limiter_floor
from tap_mega.testing.emulator.headers import HeaderForms
from tap_mega.testing.emulator.limiter import LimiterConfig
from tests.helpers.pacer import FakeClock, make_pacer

WINDOWS = [RateWindow(60, 1.0), RateWindow(1000, 60.0)]
REQUESTS = 1500
#: Where the clock-aligned grid starts, relative to the first request.
PHASE = 0.37


@dataclass
class Outcome:
    seconds: float
    floor: float
    refused: int
    foreign_refused: int = 0

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor


def sync(
    model: str,
    tie: str = "constrained",
    *,
    latency_ms: tuple[float, float] = (0.0, 20.0),
    reset: str = "ceil",
    other_rps: float = 0.0,
    reserve: int = 0,
    requests: int = REQUESTS,
) -> Outcome:
    """`requests` requests through the pacer; each is counted latency after it leaves."""
    rng = random.Random(7)  # noqa: S311 - latency, not secrets
    clock = FakeClock()
    config = LimiterConfig(
        model=model, phase=clock.now + PHASE, tie=tie, forms=HeaderForms(reset=reset)
    )
    limiter = RateLimiter(WINDOWS, clock, config)
    pacer = make_pacer(clock, reserve=reserve)
    first: float | None = None
    other_due = clock.now
    done = refused = foreign_refused = 0
    while done < requests:
        pacer.wait_for_turn()
        clock.now += rng.uniform(*latency_ms) / 1000
        while other_rps and other_due <= clock.now:  # another integration on the token
            foreign_refused += not limiter.admit("token")[0]
            other_due += 1 / other_rps
        admitted, headers = limiter.admit("token")
        first = clock.now if first is None and admitted else first
        clock.now += 0.002  # the answer's way back
        pacer.observe(200 if admitted else 429, headers)
        done += admitted
        if not admitted:
            refused += 1
            pacer.note_rate_limited(1.0)
    assert first is not None
    seconds = clock.now - 0.002 - first
    return Outcome(
        seconds, limiter_floor(requests, WINDOWS, model, PHASE), refused, foreign_refused
    )


@pytest.mark.parametrize("tie", ["constrained", "minute", "hour"])
@pytest.mark.parametrize("model", ["sliding", "fixed", "aligned", "bucket"])
def test_every_window_model_and_tie_break_gets_no_429_within_5_percent_of_its_floor(
    model: str, tie: str
) -> None:
    # Under the "minute" tie break the minute window is reported when both are
    # at 0: only a slot kept in it lets the hourly window show up, with 0 left,
    # before request 1,001. A token bucket, paced on its refill rate once its
    # small steps give it away, comes within 1.01 of its floor (the issue aims
    # at 1.5); the pacer before issue 15 took 2.2 times it.
    outcome = sync(model, tie)

    assert outcome.refused == 0
    assert outcome.ratio <= 1.05, outcome


@pytest.mark.parametrize("model", ["sliding", "fixed", "aligned", "bucket"])
def test_a_reset_given_to_the_millisecond_is_read_as_such(model: str) -> None:
    outcome = sync(model, "minute", reset="exact")

    assert outcome.refused == 0
    assert outcome.ratio <= 1.05, outcome


@pytest.mark.parametrize("model", ["sliding", "fixed", "aligned", "bucket"])
def test_another_integration_costs_a_handful_of_429s_and_none_within_the_reserve(
    model: str,
) -> None:
    # One request every 10 s: at most one in any minute window, six in an "hour".
    unreserved = sync(model, "minute", other_rps=0.1)
    reserved = sync(model, "minute", other_rps=0.1, reserve=6)

    assert unreserved.refused <= 5
    assert reserved.refused == 0
    assert reserved.foreign_refused == 0, "the reserve is left to the other integration"
