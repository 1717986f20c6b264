"""SIGTERM and SIGINT: stop between messages, keep the last STATE, exit non-zero.

The SDK's handler writes STATE from inside the signal handler (possibly in the
middle of a RECORD line already half written to stdout) and then exits 0, so a
scheduler records an interrupted sync as a success. Here a signal only raises
`Terminated` while the tap is waiting on MEGA (the only long waits); anywhere
else (writing a RECORD or STATE, parsing a page) it is held until that step is
done, so stdout always ends on a whole line and the last STATE is consistent.
A second signal while one is held stops at once: a user who insists wins.
A signal held until the work is done (the last STATE written, or a `check` or
`discover` answered) does not turn a complete run into a failure: PyAirbyte, for
one, sends SIGTERM as soon as it has read the answer it asked for.
"""

from __future__ import annotations

import contextlib
import signal
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: What the shell reports for a process killed by the signal: 128 + its number.
SIGNAL_EXIT_BASE = 128


class Terminated(BaseException):
    """The run was asked to stop.

    A BaseException so that no retry loop or generic `except Exception` swallows it.
    """

    def __init__(self, signum: int) -> None:
        """Remember which signal, for the message and the exit code."""
        self.signum = signum
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        """SIGTERM, SIGINT, ..."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        """143 for SIGTERM, 130 for SIGINT: what shells and schedulers expect."""
        return SIGNAL_EXIT_BASE + self.signum


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
        """Stop here if a signal is held: called at points where stopping is safe."""
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
