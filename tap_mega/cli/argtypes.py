"""Number arguments for the command lines (emulator, doctor, fleet), each refused in one line.

argparse's own `type=int` lets a 0 or a 70000 through to fail later as a
traceback; these check the range at parse time and name what was expected.
"""

from __future__ import annotations

import argparse
import math
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable


def whole_number(what: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (to `high`); `what` names it in the error."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            msg = f"expected {what}, not {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return convert


def above_zero(what: str) -> Callable[[str], float]:
    """An argparse type: a finite number above 0; `what` names it in the error."""

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 < value < math.inf:
            msg = f"expected {what}, not {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return convert
