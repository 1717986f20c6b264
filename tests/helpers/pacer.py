"""A pacer on a clock the test moves by hand: no real sleeps."""

from __future__ import annotations

from tap_mega.budget.pacer import Pacer
from tap_mega.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_pacer(clock: FakeClock, **kwargs: object) -> Pacer:
    kwargs.setdefault("max_wait", Settings.max_wait_seconds)
    return Pacer(clock=clock, sleep=clock.sleep, jitter=lambda: 0.5, **kwargs)  # type: ignore[arg-type]
