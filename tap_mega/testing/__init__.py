"""Test doubles for MEGA: an API emulator and a lead generator.

They live in the package, not under tests/, so benchmarks, demos and the tap's
own tests all run against one and the same emulator (a package: its
``__init__`` is its public interface). The re-exports are lazy so that
importing ``tap_mega.testing`` for the lead generator alone stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tap_mega.testing.emulator import Fault, MegaEmulator, RateWindow

__all__ = ["Fault", "MegaEmulator", "RateWindow"]


def __getattr__(name: str) -> object:
    """Import the emulator on first use of a re-exported name."""
    if name in __all__:
        return getattr(importlib.import_module("tap_mega.testing.emulator"), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
