"""Number arguments for the command lines: argparse's `type=int` lets a 0 through to fail later."""

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
            value = low - 1
        if value < low or (high is not None and value > high):
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
