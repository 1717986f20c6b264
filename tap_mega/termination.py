"""SIGTERM and SIGINT: stop between messages, keep the last STATE, exit non-zero.

The SDK's handler writes STATE mid-RECORD and exits 0. Here a signal stops the run at
once only while waiting on MEGA, or when it is the second; otherwise it is held until
the step is done, so stdout ends on a whole line. A signal held until the work is done
does not fail a complete run: PyAirbyte sends SIGTERM once it has its answer.
"""

from __future__ import annotations

import contextlib
import signal
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator


class Terminated(BaseException):
    """The run was asked to stop: a BaseException, so no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        """`signum`: for the message and the exit code."""
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        #: As shells report it: 143 for SIGTERM, 130 for SIGINT.
        self.exit_code = 128 + signum


class TerminationGuard:
    """Decides whether a signal may stop the run now or must wait for a safe point."""

    def __init__(self) -> None:
        """Nothing held, not waiting on MEGA."""
        self.pending: int | None = None
        self._interruptible = 0

    def handle(self, signum: int) -> None:
        """Called from the signal handler: stop now if safe, else hold the signal."""
        if self._interruptible or self.pending is not None:
            self.pending = signum
            raise Terminated(signum)
        self.pending = signum

    def raise_if_pending(self) -> None:
        """Called where stopping is safe."""
        if self.pending is not None:
            raise Terminated(self.pending)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A stretch (waiting on MEGA) that a signal may cut short at any moment."""
        self.raise_if_pending()
        self._interruptible += 1
        try:
            yield
        finally:
            self._interruptible -= 1


#: One per process, like the signal handlers themselves.
GUARD = TerminationGuard()
